using IngestFleet.Worker.Profiles;
namespace IngestFleet.Operations.Tuning;

/// <summary>The choice the rule made, and why, step by step.</summary>
public sealed record TuneChoice(TuneCell Cell, IReadOnlyList<string> Steps);

/// <summary>
/// The documented selection rule of <c>ingestfleet tune</c>:
/// <list type="number">
/// <item>Per thread count, its candidate is the batch with the best throughput whose p95 meets the latency budget
/// (if one is given); if no batch meets it, the batch with the lowest p95.</item>
/// <item>Start at the thread count nearest the performance-core count (the largest swept that does not exceed it;
/// else the smallest), and walk down one step at a time while the next candidate's p95 is lower and its throughput
/// is at least (1 − tolerance) × the current candidate's. Stop at the first step that fails either test.</item>
/// <item>The profile is the candidate where the walk stopped.</item>
/// </list>
/// </summary>
public static class TuneSelection
{
    public const string Rule =
        "per thread count: best images/s among batches with p95 <= budget (else lowest p95); start at the thread count nearest the performance cores; " +
        "walk threads down while p95 improves and images/s stays within tolerance; pick the candidate where the walk stops";

    public static TuneChoice Choose(IReadOnlyList<TuneCell> cells, int performanceCores, double tolerance, double? p95BudgetMs)
    {
        if (cells.Count == 0) throw new ArgumentException("no measurements to choose from", nameof(cells));
        var steps = new List<string>();
        var candidates = cells.GroupBy(c => c.Threads).OrderByDescending(g => g.Key).Select(g =>
        {
            var meeting = g.Where(c => p95BudgetMs is null || c.P95Ms <= p95BudgetMs).ToList();
            return meeting.Count > 0
                ? meeting.OrderByDescending(c => c.ImagesPerSecond).ThenBy(c => c.P95Ms).First()
                : g.OrderBy(c => c.P95Ms).First();
        }).ToList();
        foreach (var c in candidates)
            steps.Add($"{c.Threads} threads: candidate batch {c.Batch} ({c.ImagesPerSecond:0.0} img/s, p95 {c.P95Ms:0.0} ms)" +
                (p95BudgetMs is { } b && c.P95Ms > b ? $" — no batch meets the {b:0} ms budget, lowest p95 taken" : ""));

        var start = candidates.FindIndex(c => c.Threads <= performanceCores);
        if (start < 0) start = candidates.Count - 1;
        var current = candidates[start];
        steps.Add($"start at {current.Threads} threads (performance cores: {performanceCores})");
        for (var i = start + 1; i < candidates.Count; i++)
        {
            var next = candidates[i];
            var p95Better = next.P95Ms < current.P95Ms;
            var throughputKept = next.ImagesPerSecond >= (1 - tolerance) * current.ImagesPerSecond;
            if (p95Better && throughputKept)
            {
                steps.Add($"down to {next.Threads} threads: p95 {current.P95Ms:0.0} → {next.P95Ms:0.0} ms, img/s {current.ImagesPerSecond:0.0} → {next.ImagesPerSecond:0.0} (within {tolerance:P0})");
                current = next;
            }
            else
            {
                steps.Add($"stay at {current.Threads} threads: {next.Threads} threads " +
                    (!p95Better ? $"does not improve p95 ({next.P95Ms:0.0} ms vs {current.P95Ms:0.0} ms)" : $"loses more than {tolerance:P0} throughput ({next.ImagesPerSecond:0.0} vs {current.ImagesPerSecond:0.0} img/s)"));
                break;
            }
        }
        steps.Add($"chosen: {current.Threads} threads, batch {current.Batch}");
        return new TuneChoice(current, steps);
    }

    /// <summary>Round trips' worth of waiting the depth rule covers per batch. A batch waits about three round trips
    /// outside its compute (its delivery after the previous ack, its images' GETs, its part's PUT); batches in flight
    /// finish and wait in step, so covering those three alone left the cores idle (latency benchmark, clip-tiny on 2
    /// cores, 80 ms round trip, batch compute 152 ms: 4 in flight gave 0.75-0.83 of the images/s without the delay, 6
    /// and 8 gave 0.92); eight covers that case with the depth that measured 0.92.</summary>
    public const double RoundTripsPerBatch = 8;

    /// <summary>The most batches a worker holds at once (prefetch = batch × this).</summary>
    public const int MaxBatchesInFlight = 16;

    /// <summary>
    /// Batches in flight for a node whose broker and bucket are <paramref name="roundTripMs"/> away: 1 + ⌈8 × round
    /// trip ÷ batch compute⌉, at least 2 (with no latency, a second batch decodes while the first infers) and at most
    /// <see cref="MaxBatchesInFlight"/>.
    /// </summary>
    /// <param name="batchComputeMs">The chosen cell's p50 batch compute time (decode and inference, bytes in memory).</param>
    /// <param name="roundTripMs">The network round trip to the broker and the bucket (0: next to them).</param>
    public static int BatchesInFlight(double batchComputeMs, double roundTripMs)
    {
        if (roundTripMs <= 0) return 2;
        var covering = Math.Ceiling(RoundTripsPerBatch * roundTripMs / Math.Max(1, batchComputeMs));
        return (int)Math.Clamp(1 + covering, 2, MaxBatchesInFlight);
    }
}
