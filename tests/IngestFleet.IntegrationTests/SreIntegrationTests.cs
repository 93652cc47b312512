using System.Text.Json;
using IngestFleet.Tests.Cli;

namespace IngestFleet.IntegrationTests;

/// <summary>soak and plan against the real broker and S3 server.</summary>
[Collection(FleetTests.Name)]
public sealed class SreIntegrationTests(FleetFixture fixture)
{
    [Fact]
    public async Task ASoakThroughTheRealFleet_CompletesWithAReport()
    {
        using var world = await fixture.NewWorldAsync();
        var outDir = Directory.CreateTempSubdirectory("ingestfleet-soak-fleet-").FullName;
        var curve = Path.Combine(outDir, "curve.csv");
        await File.WriteAllTextAsync(curve, "offset_seconds,online,bulk\n0,1,6\n");
        // Without the test worlds' allow-list opt-out: the soak lets its own tenant read the images it uploads, and
        // nothing else, so it runs on a node configured as a fleet worker must be.
        var settings = world.Settings();
        Assert.True(settings.Remove("IngestFleet__SourcePolicy__RequireAllowList"));
        var r = CliRunner.RunWith(settings, "soak", "--curve", curve, "--duration", "15s", "--queue-prefix", world.QueuePrefix + "soak-",
            "--images", Path.Combine(AppContext.BaseDirectory, "data", "photos"), "--out", outDir);
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        using var doc = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(outDir, "soak.json")));
        var report = doc.RootElement;
        Assert.Equal("fleet", report.GetProperty("mode").GetString());
        Assert.True(report.GetProperty("completed").GetBoolean());
        var totals = report.GetProperty("totals");
        Assert.True(totals.GetProperty("embedded").GetInt64() > 50);
        Assert.Equal(0, totals.GetProperty("dead_lettered").GetInt64()); // no source_forbidden: the soak's images are on its list
        Assert.Equal(totals.GetProperty("published").GetInt64(), totals.GetProperty("embedded").GetInt64() + totals.GetProperty("dead_lettered").GetInt64());
        Assert.Contains(report.GetProperty("lifecycle").EnumerateArray(), e => e.GetProperty("event").GetString() == "first_vector");
        // The lifecycle also lives in the bucket, where billing is reconciled from.
        var lifecycleKeys = new List<string>();
        await foreach (var k in world.Store.ListAsync(IngestFleet.Worker.Node.NodeLifecycle.Prefix(report.GetProperty("node").GetProperty("id").GetString()!), CancellationToken.None))
            lifecycleKeys.Add(k);
        Assert.NotEmpty(lifecycleKeys); // the soak process's own lifecycle object
    }

    [Fact]
    public async Task Accept_ReconcilesBilling_WithTheNodesWholeLifecycleInTheBucket_TheDaemonsColdStartAndStopIncluded()
    {
        using var world = await fixture.NewWorldAsync();
        // The recorded soak (tests/data/acceptance), as if it ran on node mac-9 while the launchd daemon ran beside it:
        // the daemon started (cold) at 10:00 and stopped at 12:00; the soak process wrote its own object meanwhile.
        var dir = Directory.CreateTempSubdirectory("ingestfleet-billing-").FullName;
        var soak = Path.Combine(dir, "soak.json");
        var node = System.Text.Json.Nodes.JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "data", "acceptance", "soak.json")))!;
        node["node"]!["id"] = "mac-9";
        await File.WriteAllTextAsync(soak, node.ToJsonString());
        static string Line(string e, string at, int pid) => $$"""{"event":"{{e}}","at":"{{at}}","node_id":"mac-9","pid":{{pid}}}""" + "\n";
        await world.Store.PutAsync("nodes/mac-9/lifecycle/20261206T100000Z-501-a.jsonl",
            System.Text.Encoding.UTF8.GetBytes(Line("process_start", "2026-12-06T10:00:00+00:00", 501) + Line("model_ready", "2026-12-06T10:02:00+00:00", 501)
                                               + Line("stop", "2026-12-06T12:00:00+00:00", 501)), "application/x-ndjson", CancellationToken.None);
        await world.Store.PutAsync("nodes/mac-9/lifecycle/20261206T103000Z-777-b.jsonl",
            System.Text.Encoding.UTF8.GetBytes(Line("process_start", "2026-12-06T10:30:00+00:00", 777) + Line("stop", "2026-12-06T10:31:00+00:00", 777)),
            "application/x-ndjson", CancellationToken.None);
        var billing = Path.Combine(dir, "billing.csv");
        await File.WriteAllTextAsync(billing, "node_id,billed_start,billed_end\nmac-9,2026-12-06T10:00:00Z,2026-12-06T12:00:00Z\n");
        var profile = Path.Combine(AppContext.BaseDirectory, "data", "acceptance", "profile.json");

        var fromReport = CliRunner.RunWith(world.Settings(), "accept", "--baseline", profile, "--soak", soak, "--billing", billing, "--json");
        Assert.Equal(9, fromReport.ExitCode); // the soak's own minute is not what the node was billed for
        var fromStore = CliRunner.RunWith(world.Settings(), "accept", "--baseline", profile, "--soak", soak, "--billing", billing, "--lifecycle-from-store", "--json");
        Assert.True(fromStore.ExitCode == 0, fromStore.Stdout + fromStore.Stderr);
        Assert.Contains("120 min", fromStore.Stdout, StringComparison.Ordinal);
        Assert.Contains("2 process(es)", fromStore.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PlanLive_ReadsTheBacklogFromTheBroker()
    {
        using var world = await fixture.NewWorldAsync();
        var catalog = Path.Combine(Directory.CreateTempSubdirectory("ingestfleet-plan-").FullName, "c.jsonl");
        await File.WriteAllLinesAsync(catalog, Enumerable.Range(0, 30).Select(i => $$"""{"item_id":"p{{i}}","image":"s3://{{world.Bucket}}/x.jpg","priority":"bulk"}"""));
        Assert.Equal(0, CliRunner.RunWith(world.Settings(), "publish", catalog).ExitCode);
        var r = CliRunner.RunWith(world.Settings(), "plan", "--live", "--node-rate", "2", "--slo", "10s", "--json");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        Assert.Equal(30, doc.RootElement.GetProperty("backlog").GetInt64());
        Assert.Equal(2, doc.RootElement.GetProperty("nodes").GetInt32()); // ⌈30 ÷ (2 × 10)⌉
    }
}
