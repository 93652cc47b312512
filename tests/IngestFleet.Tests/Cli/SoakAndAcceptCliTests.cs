using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace IngestFleet.Tests.Cli;

/// <summary>
/// A tune profile and a soak report captured from real runs on this project's 2-core CI machine (2026-12-06, this
/// build: `tune --threads 2 --batches 1 --seconds 12`, then a one-minute embedded soak of an online-only curve with that
/// profile, ending in its saturation phase of 20 full batches), kept as test data so the gate logic is tested on fixed
/// inputs: no test compares times measured while it runs. The recorded soak's batch p95 is 11.7 ms against the
/// profile's 12.9 ms; it recorded paging activity (no swap-outs) and no placement (the CPU EP). On 2026-12-07 (issue 23)
/// its contract gained the text contract the current report builder writes for the bundled clip-tiny-r1 (tokenizer
/// kind, the tokenizer files' SHA-256, cap 77, truncation, padding), computed from the bundled files; nothing measured
/// was changed.
/// </summary>
internal static class RecordedAcceptance
{
    public static string Dir => Path.Combine(TestPaths.Data, "acceptance");
    public static string Profile => Path.Combine(Dir, "profile.json");
    public static string Report => Path.Combine(Dir, "soak.json");

    /// <summary>Every gate accept computes for an image model without a billing file.</summary>
    public static readonly string[] GatesWithoutBilling =
    [
        "swap never sustained", "same EP as the baseline", "EP holds the graph", "batch p95 at the tuned cell", "publish → vector p95, online",
        "contract parity", "text token cap and short edge", "golden pack on the node's EP", "RSS sampled at every batch step", "zero unexplained fallbacks",
    ];

    /// <summary>The gates that do not apply to a CPU node (never reported as passed).</summary>
    public static readonly string[] NotApplicableOnCpuNodes = ["EP holds the graph"];

    /// <summary>A copy of a JSON artifact with one change, for the failing-gate tests.</summary>
    public static string Edited(string path, Action<JsonNode> edit)
    {
        var node = JsonNode.Parse(File.ReadAllText(path))!;
        edit(node);
        var copy = Path.Combine(Directory.CreateTempSubdirectory("ingestfleet-accept-").FullName, Path.GetFileName(path));
        File.WriteAllText(copy, node.ToJsonString());
        return copy;
    }

    public static List<JsonElement> Gates(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.GetProperty("gates").EnumerateArray().Select(g => g.Clone()).ToList();
    }

    public static List<string> FailedGates(string json) => GatesWith(json, "fail");

    public static List<string> GatesWith(string json, string verdict) =>
        Gates(json).Where(g => g.GetProperty("verdict").GetString() == verdict).Select(g => g.GetProperty("gate").GetString()!).ToList();
}

/// <summary>One live one-minute embedded soak on this machine with the recorded profile: its report's structure, its
/// ledger, and that accept computes every gate from it. Whether its latencies pass is not asserted here (that would
/// compare times measured on a shared machine); the gate verdicts are tested on the recorded inputs.</summary>
public sealed class SoakRunFixture
{
    /// <summary>The --duration the soak is asked to run for (configuration; the report echoes it as planned_seconds).</summary>
    public const string Duration = "1m";

    public SoakRunFixture()
    {
        Dir = Directory.CreateTempSubdirectory("ingestfleet-soak-").FullName;
        File.WriteAllText(Curve, "offset_seconds,online\n0,5\n30,3\n");
        var soak = CliRunner.Run("soak", "--curve", Curve, "--duration", Duration, "--embedded", "--profile", RecordedAcceptance.Profile, "--images", TestPaths.Photos,
            "--out", Path.Combine(Dir, "soak"));
        if (soak.ExitCode != 0) throw new InvalidOperationException(soak.Stdout + soak.Stderr);
        SoakOutput = soak.Stdout;
    }

    public string Dir { get; }
    public string Curve => Path.Combine(Dir, "curve.csv");
    public string Report => Path.Combine(Dir, "soak", "soak.json");
    public string SoakOutput { get; }
}

public sealed class SoakCliTests(SoakRunFixture run) : IClassFixture<SoakRunFixture>
{
    [Fact]
    public void TheSoakReport_HasEveryField()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(run.Report));
        var r = doc.RootElement;
        Assert.Equal("ingestfleet.soak/v1", r.GetProperty("schema").GetString());
        Assert.True(r.GetProperty("completed").GetBoolean());
        // planned_seconds is the --duration argument echoed, a configured value: no measured time is compared here.
        Assert.Equal(IngestFleet.ServiceDefaults.Durations.Parse(SoakRunFixture.Duration).TotalSeconds, r.GetProperty("planned_seconds").GetDouble());
        var totals = r.GetProperty("totals");
        Assert.True(totals.GetProperty("embedded").GetInt64() > 150);
        Assert.Equal(totals.GetProperty("published").GetInt64(), totals.GetProperty("embedded").GetInt64() + totals.GetProperty("dead_lettered").GetInt64());
        Assert.True(r.GetProperty("windows").GetArrayLength() >= 10);
        Assert.All(r.GetProperty("windows").EnumerateArray(), w => Assert.True(w.TryGetProperty("images_per_hour", out _) && w.TryGetProperty("p95_seconds_by_class", out _)));
        Assert.True(r.GetProperty("batch_p95_ms_by_size").TryGetProperty("1", out _), "batches of the tuned size ran");
        Assert.True(r.GetProperty("latency_p95_seconds_by_class").TryGetProperty("online", out _));
        Assert.Equal(2, r.GetProperty("wait_slo_seconds_by_class").GetProperty("online").GetDouble());
        Assert.Equal(totals.GetProperty("batches").GetInt64() * 3, r.GetProperty("rss").GetArrayLength());
        Assert.True(r.GetProperty("swap").GetArrayLength() > 5);
        Assert.Equal(0, r.GetProperty("unexplained_fallbacks").GetInt32());
        Assert.Equal(224, r.GetProperty("contract").GetProperty("short_edge").GetInt32());
        Assert.Equal(["process_start", "model_ready", "first_vector", "drain_begin", "stop"],
            r.GetProperty("lifecycle").EnumerateArray().Select(e => e.GetProperty("event").GetString()));
        foreach (var f in new[] { "soak.html", "images-per-hour.png", "errors-by-reason.png", "p95-by-class.png", "rss-per-batch-step.png", "swap.png", "unexplained-fallbacks.png" })
            Assert.True(new FileInfo(Path.Combine(run.Dir, "soak", f)).Length > 1000, f);
        Assert.Contains("data:image/png;base64,", File.ReadAllText(Path.Combine(run.Dir, "soak", "soak.html")), StringComparison.Ordinal);
    }

    [Fact]
    public void TheLiveSoak_KeepsItsLedger_AndAcceptComputesEveryGateFromIt()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(run.Report));
        var totals = doc.RootElement.GetProperty("totals");
        var published = totals.GetProperty("published").GetInt64();
        Assert.Equal(published, totals.GetProperty("published_by_class").GetProperty("online").GetInt64());
        Assert.Equal(published, totals.GetProperty("embedded").GetInt64() + totals.GetProperty("dead_lettered").GetInt64()); // every job has one outcome
        Assert.Equal(0, totals.GetProperty("dead_lettered").GetInt64()); // the photos are valid
        var stored = Directory.GetFiles(Path.Combine(run.Dir, "soak", "store", "vectors"), "*.parquet", SearchOption.AllDirectories);
        Assert.Equal(totals.GetProperty("batches").GetInt64(), stored.Length); // one part per batch

        var r = CliRunner.Run("accept", "--baseline", RecordedAcceptance.Profile, "--soak", run.Report, "--json");
        Assert.True(r.ExitCode is 0 or 9, r.Stdout + r.Stderr); // accepted or not: both are verdicts
        var gates = RecordedAcceptance.Gates(r.Stdout);
        Assert.Equal(RecordedAcceptance.GatesWithoutBilling.Order(), gates.Select(g => g.GetProperty("gate").GetString()!).Order());
        Assert.All(gates, g =>
        {
            var name = g.GetProperty("gate").GetString()!;
            var measured = g.GetProperty("measured").GetString()!;
            if (RecordedAcceptance.NotApplicableOnCpuNodes.Contains(name))
            {
                Assert.Equal("not_applicable", g.GetProperty("verdict").GetString());
                Assert.False(g.GetProperty("pass").GetBoolean());
                Assert.StartsWith("not applicable: ", measured, StringComparison.Ordinal);
            }
            else
            {
                Assert.True(g.GetProperty("verdict").GetString() is "pass" or "fail", $"{name} was not computed: {measured}");
            }
        });
        // The saturation phase ran (the report records where it began) and its full batches of the tuned size gave the
        // p95 gate a cell to read: structure, not a reading of how long anything took.
        Assert.Equal(JsonValueKind.Number, doc.RootElement.GetProperty("saturation_start_seconds").ValueKind);
        var tuned = doc.RootElement.GetProperty("serving").GetProperty("batch").GetInt32();
        Assert.True(doc.RootElement.GetProperty("batch_p95_ms_by_size").TryGetProperty(tuned.ToString(System.Globalization.CultureInfo.InvariantCulture), out _),
            doc.RootElement.GetProperty("batch_p95_ms_by_size").ToString());
    }

    /// <summary>The --duration of the interrupted soak: far longer than the test lets it run.</summary>
    private const string PlannedDuration = "10m";

    [Fact]
    // SIGTERM takes the same path as Ctrl-C (System.CommandLine cancels the command on both); it is sent here because a
    // process started from a background job inherits SIGINT as ignored, and .NET leaves an inherited-ignored SIGINT alone.
    public async Task CtrlCOrSigterm_EndsTheSoakCleanly_WithAPartialReport()
    {
        var outDir = Path.Combine(run.Dir, "interrupted");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = AppContext.BaseDirectory };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "ingestfleet.dll"), "soak", "--curve", "steady", "--duration", PlannedDuration, "--embedded",
                     "--images", TestPaths.Photos, "--out", outDir })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        // Interrupt once a vector was written (the lifecycle's first_vector event), however long start-up takes here.
        var lifecycle = Path.Combine(outDir, "store", "nodes", Environment.MachineName, "lifecycle");
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (!stdout.IsCompleted && DateTime.UtcNow < deadline && !Recorded(lifecycle, "\"first_vector\""))
            await Task.Delay(200);
        using (var kill = Process.Start("kill", ["-TERM", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) await kill.WaitForExitAsync();
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await p.WaitForExitAsync(limit.Token);
        var (output, errors) = (await stdout, await stderr);
        Assert.True(p.ExitCode == 130, output + errors);
        using var doc = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(outDir, "soak.json")));
        Assert.False(doc.RootElement.GetProperty("completed").GetBoolean());
        // The report keeps the --duration asked for (a configured value, not a measurement) though the run was cut short.
        Assert.Equal(IngestFleet.ServiceDefaults.Durations.Parse(PlannedDuration).TotalSeconds, doc.RootElement.GetProperty("planned_seconds").GetDouble());
        Assert.True(doc.RootElement.GetProperty("totals").GetProperty("embedded").GetInt64() > 0);
        Assert.Contains("stopped early (partial report)", output, StringComparison.Ordinal);
    }

    private static bool Recorded(string path, string text)
    {
        try
        {
            return Directory.Exists(path) && Directory.GetFiles(path).Any(f => File.ReadAllText(f).Contains(text, StringComparison.Ordinal));
        }
        catch (IOException)
        {
            return false; // being replaced right now
        }
    }
}

/// <summary>The accept gates and the plan on the recorded profile and soak report (fixed inputs, no live timing).</summary>
public sealed class AcceptCliTests
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ingestfleet-accept-").FullName;

    [Fact]
    public void Accept_Passes_TheRecordedSoak_AgainstItsRecordedTuneBaseline()
    {
        var html = Path.Combine(_dir, "accept.html");
        var r = CliRunner.Run("accept", "--baseline", RecordedAcceptance.Profile, "--soak", RecordedAcceptance.Report, "--html", html);
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("ACCEPTED: every gate that applies passes", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("ACCEPTED", File.ReadAllText(html), StringComparison.Ordinal);
    }

    [Fact]
    public void Accept_Fails_NamingTheGate_WhenTheBaselineP95IsImpossible()
    {
        var impossible = RecordedAcceptance.Edited(RecordedAcceptance.Profile, n => { foreach (var c in n["measurements"]!.AsArray()) c!["p95_ms"] = 0.001; });
        var r = CliRunner.Run("accept", "--baseline", impossible, "--soak", RecordedAcceptance.Report, "--json");
        Assert.Equal(9, r.ExitCode);
        var gate = RecordedAcceptance.FailedGates(r.Stdout);
        Assert.Equal(["batch p95 at the tuned cell"], gate);
    }

    [Fact]
    public void Accept_Fails_WhenSwapIsSustained()
    {
        var swapping = RecordedAcceptance.Edited(RecordedAcceptance.Report, n =>
        {
            var samples = n["swap"]!.AsArray();
            for (var i = 0; i < samples.Count; i++) samples[i]!["value"] = 512L << 20;
        });
        var r = CliRunner.Run("accept", "--baseline", RecordedAcceptance.Profile, "--soak", swapping, "--json");
        Assert.Equal(9, r.ExitCode);
        Assert.Equal(["swap never sustained"], RecordedAcceptance.FailedGates(r.Stdout));
    }

    [Fact]
    public void Accept_Fails_OnAnUnexplainedFallback()
    {
        var fallback = RecordedAcceptance.Edited(RecordedAcceptance.Report, n => { n["unexplained_fallbacks"] = 1; n["unexplained_fallback_nodes"] = new JsonArray("/blocks.0/attn/MatMul"); });
        var r = CliRunner.Run("accept", "--baseline", RecordedAcceptance.Profile, "--soak", fallback);
        Assert.Equal(9, r.ExitCode);
        Assert.Contains("FAIL  zero unexplained fallbacks", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("/blocks.0/attn/MatMul", r.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Accept_ChecksBilledMinutes_AgainstTheLifecycleWallClock()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(RecordedAcceptance.Report));
        var node = doc.RootElement.GetProperty("node").GetProperty("id").GetString();
        var events = doc.RootElement.GetProperty("lifecycle").EnumerateArray().ToList();
        var wall = (events[^1].GetProperty("at").GetDateTimeOffset() - events[0].GetProperty("at").GetDateTimeOffset()).TotalMinutes;
        var agree = Path.Combine(_dir, "billing-agree.csv");
        File.WriteAllText(agree, $"node_id,billed_minutes\n{node},{Math.Ceiling(wall):0}\nsome-other-node,999\n");
        var ok = CliRunner.Run("accept", "--baseline", RecordedAcceptance.Profile, "--soak", RecordedAcceptance.Report, "--billing", agree);
        Assert.True(ok.ExitCode == 0, ok.Stdout + ok.Stderr);
        Assert.Contains("PASS  billed minutes vs wall clock", ok.Stdout, StringComparison.Ordinal);

        var disagree = Path.Combine(_dir, "billing-disagree.csv");
        File.WriteAllText(disagree, $"node_id,billed_start,billed_end\n{node},2026-11-30T00:00:00Z,2026-11-30T03:00:00Z\n");
        var bad = CliRunner.Run("accept", "--baseline", RecordedAcceptance.Profile, "--soak", RecordedAcceptance.Report, "--billing", disagree, "--json");
        Assert.Equal(9, bad.ExitCode);
        Assert.Equal(["billed minutes vs wall clock"], RecordedAcceptance.FailedGates(bad.Stdout));
    }

    [Fact]
    public void Accept_SaysNotApplicable_ForGatesThatDoNotApplyToACpuImageNode_NeverPass()
    {
        var r = CliRunner.Run("accept", "--baseline", RecordedAcceptance.Profile, "--soak", RecordedAcceptance.Report, "--json");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(RecordedAcceptance.NotApplicableOnCpuNodes.Order(), RecordedAcceptance.GatesWith(r.Stdout, "not_applicable").Order());
        var text = CliRunner.Run("accept", "--baseline", RecordedAcceptance.Profile, "--soak", RecordedAcceptance.Report);
        Assert.Contains("PASS  text token cap and short edge", text.Stdout, StringComparison.Ordinal);
        Assert.Contains("ACCEPTED: every gate that applies passes", text.Stdout, StringComparison.Ordinal);
    }

    /// <summary>Another short edge fails the text gate too (and contract parity, as before).</summary>
    [Fact]
    public void Accept_FailsTheTextGate_OnAnotherShortEdge()
    {
        var report = RecordedAcceptance.Edited(RecordedAcceptance.Report, n => n["contract"]!["short_edge"] = 256);
        var r = CliRunner.Run("accept", "--baseline", RecordedAcceptance.Profile, "--soak", report, "--json");
        Assert.Equal(9, r.ExitCode);
        Assert.Equal(["contract parity", "text token cap and short edge"], RecordedAcceptance.FailedGates(r.Stdout).Order());
    }

    /// <summary>Both sides image-only: the text gate does not apply (and does not block).</summary>
    [Fact]
    public void Accept_SaysNotApplicable_ForTheTextGate_WhenBothManifestsAreImageOnly()
    {
        var local = TestPaths.CopyModel("clip-tiny-r1");
        var manifest = Path.Combine(local, "manifest.json");
        var m = JsonNode.Parse(File.ReadAllText(manifest))!;
        m.AsObject().Remove("text");
        File.WriteAllText(manifest, m.ToJsonString());
        var report = RecordedAcceptance.Edited(RecordedAcceptance.Report, n =>
        {
            n["contract"]!.AsObject().Remove("text");
            n["contract"]!.AsObject().Remove("token_cap");
        });
        var r = CliRunner.Run("accept", "--baseline", RecordedAcceptance.Profile, "--soak", report, "--model", local);
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("N/A   text token cap and short edge", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("image-only manifest", r.Stdout, StringComparison.Ordinal);
    }

    /// <summary>The node tokenizes differently: another cap, other tokenizer bytes, or no text tower at all. Each fails
    /// the text gate alone, naming both sides.</summary>
    [Theory]
    [InlineData("cap")]
    [InlineData("tokenizer")]
    [InlineData("truncation")]
    [InlineData("contract")]
    [InlineData("onnx")]
    [InlineData("missing")]
    public void Accept_FailsTheTextGate_WhenTheNodesTextContractDiffers(string change)
    {
        var report = RecordedAcceptance.Edited(RecordedAcceptance.Report, n =>
        {
            var text = n["contract"]!["text"]!;
            switch (change)
            {
                case "cap": text["token_cap"] = 64; break;
                case "tokenizer": text["tokenizer_sha256"]!["merges.txt"] = new string('0', 64); break;
                case "truncation": text["truncation"] = "start"; break;
                case "contract": text["contract_hash"] = "0000000000000000"; break; // another pad token, lower-casing, …
                case "onnx": text["onnx_sha256"] = new string('1', 64); break;
                default: n["contract"]!.AsObject().Remove("text"); break;
            }
        });
        var r = CliRunner.Run("accept", "--baseline", RecordedAcceptance.Profile, "--soak", report, "--json");
        Assert.Equal(9, r.ExitCode);
        Assert.Equal(["text token cap and short edge"], RecordedAcceptance.FailedGates(r.Stdout));
        var gate = RecordedAcceptance.Gates(r.Stdout).Single(g => g.GetProperty("gate").GetString() == "text token cap and short edge");
        Assert.Contains("local clip-tiny-r1: clip_bpe, cap 77, truncation end", gate.GetProperty("limit").GetString(), StringComparison.Ordinal);
        var measured = gate.GetProperty("measured").GetString()!;
        Assert.Contains(change switch
        {
            "cap" => "cap 64", "tokenizer" => "merges.txt 000000000000", "truncation" => "truncation start", "contract" => "contract 0000000000000000",
            "onnx" => "text.onnx 111111111111", _ => "no text tower",
        },
            measured, StringComparison.Ordinal);
    }

    [Fact]
    public void Accept_Fails_NamingBothEps_WhenTheSoakRanOnAnotherEpThanTheBaseline()
    {
        var coreml = RecordedAcceptance.Edited(RecordedAcceptance.Report, n =>
        {
            n["serving"]!["execution_provider"] = "coreml";
            n.AsObject().Remove("placement"); // a report that did not record where ORT placed the graph
        });
        var r = CliRunner.Run("accept", "--baseline", RecordedAcceptance.Profile, "--soak", coreml, "--json");
        Assert.Equal(9, r.ExitCode);
        Assert.Equal(["same EP as the baseline"], RecordedAcceptance.FailedGates(r.Stdout));
        var gate = RecordedAcceptance.Gates(r.Stdout).Single(g => g.GetProperty("gate").GetString() == "same EP as the baseline");
        Assert.Contains("soak on coreml, baseline tuned on cpu", gate.GetProperty("measured").GetString(), StringComparison.Ordinal);
        // An accelerator soak without a placement record cannot show the EP held the graph: not computed, and it blocks.
        var placement = RecordedAcceptance.Gates(r.Stdout).Single(g => g.GetProperty("gate").GetString() == "EP holds the graph");
        Assert.Equal("not_applicable", placement.GetProperty("verdict").GetString());
        Assert.True(placement.GetProperty("blocks").GetBoolean());
    }

    [Fact]
    public void Accept_Fails_WhenTheAcceleratorHeldTooLittleOfTheGraph()
    {
        var edited = RecordedAcceptance.Edited(RecordedAcceptance.Report, n =>
        {
            n["serving"]!["execution_provider"] = "coreml";
            n["placement"] = new JsonObject
            {
                ["execution_provider"] = "coreml", ["ep_node_share"] = 0.1, ["min_ep_node_share"] = 0.8,
                ["summary"] = "CoreMLExecutionProvider holds 10 % of the graph (12 of 120 nodes in 3 partition(s))",
            };
        });
        var baseline = RecordedAcceptance.Edited(RecordedAcceptance.Profile, n => n["execution_provider"] = "coreml");
        var r = CliRunner.Run("accept", "--baseline", baseline, "--soak", edited, "--json");
        Assert.Equal(9, r.ExitCode);
        Assert.Equal(["EP holds the graph"], RecordedAcceptance.FailedGates(r.Stdout));
    }

    [Fact]
    public void Accept_DoesNotPassAP95GateItCannotCompute()
    {
        var noFullBatch = RecordedAcceptance.Edited(RecordedAcceptance.Report, n => n["batch_p95_ms_by_size"] = new JsonObject());
        var r = CliRunner.Run("accept", "--baseline", RecordedAcceptance.Profile, "--soak", noFullBatch, "--json");
        Assert.Equal(9, r.ExitCode);
        var gate = RecordedAcceptance.Gates(r.Stdout).Single(g => g.GetProperty("gate").GetString() == "batch p95 at the tuned cell");
        Assert.Equal("not_applicable", gate.GetProperty("verdict").GetString());
        Assert.False(gate.GetProperty("pass").GetBoolean());
        Assert.Contains("no full batch of 1 ran", gate.GetProperty("measured").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Accept_CannotJudgeSwapFromAReportThatRecordedOnlyTheSwapLevel()
    {
        var levelOnly = RecordedAcceptance.Edited(RecordedAcceptance.Report, n => n.AsObject().Remove("swap_measure"));
        var r = CliRunner.Run("accept", "--baseline", RecordedAcceptance.Profile, "--soak", levelOnly, "--json");
        Assert.Equal(9, r.ExitCode);
        var gate = RecordedAcceptance.Gates(r.Stdout).Single(g => g.GetProperty("gate").GetString() == "swap never sustained");
        Assert.Equal("not_applicable", gate.GetProperty("verdict").GetString());
        Assert.True(gate.GetProperty("blocks").GetBoolean());
    }

    [Fact]
    public void Plan_TakesTheNodeRateAndColdStartFromTheSoak()
    {
        var r = CliRunner.Run("plan", "--backlog", "100000", "--soak", RecordedAcceptance.Report, "--slo", "1h", "--price-per-hour", "1.2", "--min-rental-hours", "24", "--json");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        var p = doc.RootElement;
        using var soak = JsonDocument.Parse(File.ReadAllText(RecordedAcceptance.Report));
        var rate = soak.RootElement.GetProperty("totals").GetProperty("embedded").GetInt64() / soak.RootElement.GetProperty("ran_seconds").GetDouble();
        Assert.Equal(rate, p.GetProperty("node_rate").GetDouble(), 6);
        Assert.True(p.GetProperty("cold_start_seconds").GetDouble() > 0);
        Assert.Equal(24, p.GetProperty("billed_hours_per_node").GetDouble());
        Assert.Equal((int)Math.Ceiling(100000 / (rate * (3600 - p.GetProperty("cold_start_seconds").GetDouble()))), p.GetProperty("nodes").GetInt32());
    }

}
