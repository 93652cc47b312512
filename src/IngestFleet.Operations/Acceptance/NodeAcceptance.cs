using IngestFleet.Embedding.Inference;
using IngestFleet.Worker.Node;
using System.Globalization;
using System.Text;
using System.Text.Json;
using IngestFleet.Embedding.Models;
using IngestFleet.Worker.Profiles;

namespace IngestFleet.Operations.Acceptance;

/// <summary>
/// <c>ingestfleet accept</c>: signs a node off against the local benchmark with the same artifacts finance sees. Every
/// gate is evaluated and reported (measured value, limit, verdict, and what to do when it fails); the node passes only
/// when all pass.
/// </summary>
public static class NodeAcceptance
{
    /// <summary>Billed minutes may differ from the fleet's own wall clock by this fraction, plus one minute of rounding.</summary>
    public const double DefaultBillingTolerance = 0.05;

    public const string TextGate = "text token cap and short edge";

    /// <summary>
    /// The text contract the node served against the local one: the same tokenizer files (SHA-256 of the bytes on each
    /// side), token cap, truncation and padding, and the same short edge, so a query embeds on the node as it did in the
    /// benchmark and lands in the same space as the catalog's images. Not applicable when both manifests are image-only.
    /// </summary>
    internal static AcceptanceGate TextContractGate(SoakContract node, ModelManifest local)
    {
        var localText = SoakTextContract.Of(local);
        var nodeText = node.Text;
        const string expectation = "identical tokenizer files (SHA-256), token cap, truncation and padding; same short edge";
        if (localText is null && nodeText is null && node.TokenCap is null)
            return AcceptanceGate.NotApplicable(TextGate, $"not applicable: {local.Revision} is an image-only manifest (no text tower, no tokenizer)", expectation, blocks: false);
        var measured = nodeText is null
            ? $"node: no text tower{(node.TokenCap is { } cap ? $" recorded (token cap {cap})" : "")}; short edge {node.ShortEdge}"
            : $"node: {nodeText}; short edge {node.ShortEdge}";
        var expected = localText is null
            ? $"local {local.Revision}: no text tower; short edge {local.Preprocess.Size}"
            : $"local {local.Revision}: {localText}; short edge {local.Preprocess.Size}";
        var same = localText is not null && nodeText is not null && nodeText.SameAs(localText) && node.ShortEdge == local.Preprocess.Size;
        return new AcceptanceGate(TextGate, measured, expected, same,
            "the node tokenizes queries differently (other tokenizer files, cap or truncation) or serves another bundle: push the bundle that was benchmarked (ingestfleet models push) and restart the worker");
    }

    public static IReadOnlyList<AcceptanceGate> Evaluate(TunedProfile baseline, SoakReport soak, ModelManifest local, double tolerance,
        IReadOnlyList<BillingRecord>? billing = null, double billingTolerance = DefaultBillingTolerance)
    {
        var gates = new List<AcceptanceGate>();
        var inv = CultureInfo.InvariantCulture;

        // Recomputed from the samples themselves (the report's own verdict is only a summary).
        var swap = SoakReportBuilder.Sustained(soak.Swap, soak.SwapVerdict.ThresholdBytes > 0 ? soak.SwapVerdict.ThresholdBytes : SoakReportBuilder.SwapThresholdBytes,
            soak.SwapVerdict.MinSeconds > 0 ? soak.SwapVerdict.MinSeconds : 60);
        const string swapFix = "free memory on the node, lower the batch (ingestfleet tune --p95-budget-ms), or rent a node with more memory";
        var swapLimit = $"swap-outs above {swap.ThresholdBytes >> 20} MiB per sample for < {swap.MinSeconds:0} s in a row";
        gates.Add(soak.SwapMeasure != SoakReport.SwappedOutPerSample
            ? AcceptanceGate.NotApplicable("swap never sustained", "not computed: the report records the swap level, not paging activity (an older build)",
                swapLimit, blocks: true, "rerun the soak with this build")
            : soak.Swap.Count == 0 || soak.Swap.Any(s => s.Value < 0)
                ? AcceptanceGate.NotApplicable("swap never sustained", "not computed: the kernel's paging counters could not be read on this node", swapLimit,
                    blocks: true, "run the soak on macOS or Linux")
                : new AcceptanceGate("swap never sustained",
                    $"longest run of swap-outs: {swap.LongestSeconds:0} s (at most {swap.MaxBytes >> 10} KiB swapped out in one sample, {soak.Swap.Count} samples)",
                    swapLimit, !swap.Sustained, swapFix));

        // Like with like: the baseline and the soak must run on the same EP, or the p95 comparison means nothing.
        var baselineEp = baseline.ExecutionProvider.Name();
        gates.Add(new AcceptanceGate("same EP as the baseline", $"soak on {soak.Serving.ExecutionProvider}, baseline tuned on {baselineEp}",
            $"{baselineEp} (the baseline's)", string.Equals(soak.Serving.ExecutionProvider, baselineEp, StringComparison.Ordinal),
            $"the node served on {soak.Serving.ExecutionProvider} but the baseline was tuned on {baselineEp}: tune on the same EP, or fix the node's EP (node doctor)"));

        var minShare = soak.Placement?.MinEpNodeShare ?? local.MinEpNodeShare;
        if (soak.Serving.ExecutionProvider == "cpu")
            gates.Add(AcceptanceGate.NotApplicable("EP holds the graph", "not applicable: the node served on the CPU EP (no accelerator to hold it)",
                $"≥ {minShare:P0} of the graph's nodes on the accelerator", blocks: false));
        else if (soak.Placement?.EpNodeShare is not { } share)
            gates.Add(AcceptanceGate.NotApplicable("EP holds the graph", "not computed: the soak report carries no placement (ORT logged none, or an older build)",
                $"≥ {minShare:P0} of the graph's nodes on {soak.Serving.ExecutionProvider}", blocks: true, "rerun the soak with this build"));
        else
            gates.Add(new AcceptanceGate("EP holds the graph", soak.Placement.Summary, $"≥ {minShare:P0} of the graph's nodes on {soak.Serving.ExecutionProvider}",
                share >= minShare, "the EP runs too little of the model: check the export's static shapes and ops (README, Core ML section), then rerun node doctor"));

        var cell = baseline.Measurements.FirstOrDefault(c => c.Threads == baseline.IntraOpThreads && c.Batch == baseline.Batch);
        var likeWithLike = soak.Serving.Batch == baseline.Batch && soak.Serving.IntraOpThreads == baseline.IntraOpThreads;
        var soakP95 = soak.BatchP95MsBySize.TryGetValue(baseline.Batch.ToString(inv), out var p) ? p : double.NaN;
        if (cell is null)
            gates.Add(new AcceptanceGate("batch p95 at the tuned cell", "-", $"the baseline has no cell for threads {baseline.IntraOpThreads}, batch {baseline.Batch}", false,
                "pass the profile.json that ingestfleet tune wrote"));
        else if (!likeWithLike)
            gates.Add(new AcceptanceGate("batch p95 at the tuned cell", $"soak ran batch {soak.Serving.Batch}, {soak.Serving.IntraOpThreads} threads",
                $"batch {baseline.Batch}, {baseline.IntraOpThreads} threads (like with like)", false, "run the soak with --profile set to the baseline profile"));
        else if (double.IsNaN(soakP95))
            gates.Add(AcceptanceGate.NotApplicable("batch p95 at the tuned cell", $"not computed: no full batch of {baseline.Batch} ran (the soak's saturation phase did not complete)",
                $"≤ {cell.P95Ms * (1 + tolerance):0.0} ms (local {cell.P95Ms:0.0} ms + {tolerance:P0})", blocks: true, "rerun the soak to the end"));
        else
            gates.Add(new AcceptanceGate("batch p95 at the tuned cell", $"{soakP95:0.0} ms (batch {baseline.Batch}, {baseline.IntraOpThreads} threads)",
                $"≤ {cell.P95Ms * (1 + tolerance):0.0} ms (local {cell.P95Ms:0.0} ms + {tolerance:P0})", soakP95 <= cell.P95Ms * (1 + tolerance),
                "compare the node's tune table with the local one (ingestfleet tune on the node), check thermal throttling and noisy neighbours"));

        foreach (var (cls, p95) in soak.LatencyP95SecondsByClass.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            var name = $"publish → vector p95, {cls}";
            if (!soak.WaitSloSecondsByClass.TryGetValue(cls, out var slo))
                gates.Add(AcceptanceGate.NotApplicable(name, $"not computed: the report carries no published wait SLO for {cls}", "≤ the class's published wait SLO", blocks: true,
                    "rerun the soak with this build"));
            else if (double.IsNaN(p95))
                gates.Add(AcceptanceGate.NotApplicable(name, $"not computed: no {cls} job finished", $"≤ {slo:0.###} s (published wait SLO)", blocks: true, "rerun the soak to the end"));
            else
                gates.Add(new AcceptanceGate(name, $"{p95:0.000} s", $"≤ {slo:0.###} s (published wait SLO)", p95 <= slo,
                    "the node is too slow for this class at this curve: add nodes (ingestfleet plan) or lower the batch time limit"));
        }

        var c2 = soak.Contract;
        var pre = local.Preprocess;
        var same = c2.ShortEdge == pre.Size && c2.Crop == pre.Crop && c2.ResizeMode == pre.ResizeMode.Name() && c2.OutputDimension == local.OutputDimension
                   && soak.Serving.ModelRevision == local.Revision && c2.ContractHash == pre.ContractHash()
                   && (baseline.ModelSha256.Length == 0 || baseline.ModelSha256 == local.Onnx.Sha256);
        gates.Add(new AcceptanceGate("contract parity",
            $"{soak.Serving.ModelRevision}: short edge {c2.ShortEdge}, crop {c2.Crop}, {c2.ResizeMode}, {c2.OutputDimension}-d, contract {c2.ContractHash}",
            $"{local.Revision}: short edge {pre.Size}, crop {pre.Crop}, {pre.ResizeMode.Name()}, {local.OutputDimension}-d, contract {pre.ContractHash()} (identical)", same,
            "the node serves another export or preprocessing: push the bundle that was benchmarked (ingestfleet models push) and restart the worker"));
        gates.Add(TextContractGate(c2, local));
        gates.Add(double.IsNaN(c2.GoldenWorstDistance)
            ? AcceptanceGate.NotApplicable("golden pack on the node's EP", "not computed: the worker ran without its golden check", $"≤ {c2.GoldenEpsilon:G3}", blocks: true,
                "run the soak with the golden check on (the default)")
            : new AcceptanceGate("golden pack on the node's EP", $"worst cosine distance {c2.GoldenWorstDistance:G3} on {soak.Serving.ExecutionProvider}",
                $"≤ {c2.GoldenEpsilon:G3}", c2.GoldenWorstDistance <= c2.GoldenEpsilon,
                "the EP computes something else: reopen the conversion (Core ML precision, unsupported ops)"));

        var expected = soak.Totals.Batches * 3;
        gates.Add(soak.Totals.Batches == 0
            ? AcceptanceGate.NotApplicable("RSS sampled at every batch step", "not computed: the soak ran no batch", "= 3 per batch (decode, inference, batch)", blocks: true,
                "rerun the soak to the end")
            : new AcceptanceGate("RSS sampled at every batch step", $"{soak.Rss.Count} samples for {soak.Totals.Batches} batches",
                $"= 3 per batch (decode, inference, batch), {expected}", soak.Rss.Count == expected, "the worker build is too old: rerun with this build"));
        gates.Add(new AcceptanceGate("zero unexplained fallbacks",
            soak.UnexplainedFallbacks == 0 ? "0" : $"{soak.UnexplainedFallbacks}: {string.Join(", ", soak.UnexplainedFallbackNodes.Take(5))}", "0",
            soak.UnexplainedFallbacks == 0, "reopen the conversion, or list the node with a reason under the manifest's expected fallbacks"));

        if (billing is not null)
        {
            // The node's own lifecycle, every worker process on it (the daemon's cold start included), first start to last event.
            var start = soak.Lifecycle.OrderBy(e => e.At).FirstOrDefault(e => e.Event == "process_start");
            var stop = soak.Lifecycle.Count == 0 || !soak.Lifecycle.Any(e => e.Event == "stop") ? null : soak.Lifecycle.MaxBy(e => e.At);
            var billed = billing.Where(b => b.NodeId == soak.Node.Id).Sum(b => b.BilledMinutes);
            if (start is null || stop is null)
                gates.Add(AcceptanceGate.NotApplicable("billed minutes vs wall clock", $"not computed: billed {billed:0.#} min, but the lifecycle has no process start and stop",
                    "lifecycle process_start and stop needed", blocks: true,
                    "read the node's lifecycle from the bucket (--lifecycle-from-store), or rerun the soak with this build"));
            else
            {
                var wall = (stop.At - start.At).TotalMinutes;
                var allowed = wall * billingTolerance + 1;
                gates.Add(new AcceptanceGate("billed minutes vs wall clock",
                    $"billed {billed:0.#} min for {soak.Node.Id}; wall clock {wall:0.#} min (cold start included: first process start {start.At:u} → last event {stop.At:u}, {soak.Lifecycle.Select(e => e.Pid).Distinct().Count()} process(es))",
                    $"within ±{allowed:0.#} min ({billingTolerance:P0} + 1 min of rounding)", Math.Abs(billed - wall) <= allowed,
                    "raise it with the provider: billed time the fleet did not run (or a node id that does not match)"));
            }
        }
        return gates;
    }

    public static bool Passed(IReadOnlyList<AcceptanceGate> gates) => !gates.Any(g => g.Rejects);

    private static string Label(AcceptanceGate g) => g.Verdict switch
    {
        GateVerdict.Pass => "PASS",
        GateVerdict.Fail => "FAIL",
        _ => "N/A ",
    };

    public static string ToText(IReadOnlyList<AcceptanceGate> gates)
    {
        var sb = new StringBuilder();
        foreach (var g in gates)
        {
            sb.Append("  ").Append(Label(g)).Append("  ").Append(g.Name).AppendLine();
            sb.Append("          measured: ").AppendLine(g.Measured);
            sb.Append("          limit:    ").AppendLine(g.Limit);
            if (g.Rejects && g.Fix is not null) sb.Append("          do:       ").AppendLine(g.Fix);
        }
        sb.AppendLine(Passed(gates)
            ? gates.Any(g => g.Verdict == GateVerdict.NotApplicable) ? "ACCEPTED: every gate that applies passes" : "ACCEPTED: every gate passes"
            : $"NOT ACCEPTED: {string.Join(", ", gates.Where(g => g.Rejects).Select(g => g.Name))}");
        return sb.ToString();
    }

    public static string ToJson(IReadOnlyList<AcceptanceGate> gates, SoakReport soak) =>
        JsonSerializer.Serialize(new { accepted = Passed(gates), node = soak.Node.Id, model = soak.Serving.ModelRevision, gates }, SoakReport.Json);

    public static string ToHtml(IReadOnlyList<AcceptanceGate> gates, SoakReport soak)
    {
        var sb = new StringBuilder(HtmlReport.Head($"Acceptance {soak.Node.Id}: {(Passed(gates) ? "ACCEPTED" : "NOT ACCEPTED")}"));
        sb.Append(HtmlReport.Table(["gate", "measured", "limit", "verdict", "what to do"],
            gates.Select(g => (IReadOnlyList<string>)[g.Name, g.Measured, g.Limit, Label(g).Trim(), g.Rejects ? g.Fix ?? "" : ""]).ToList(),
            (r, c) => c == 3 ? (gates[r].Rejects ? "fail" : "pass") : null));
        sb.Append(HtmlReport.Tail);
        return sb.ToString();
    }
}
