using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace IngestFleet.Worker.Telemetry;

/// <summary>
/// The worker's ActivitySource and instruments on the fleet's meter, both named <c>IngestFleet</c> (the service defaults
/// enable them). Instruments are created here once so every batch counts into the same series.
/// </summary>
public static class WorkerTelemetry
{
    public const string Name = ServiceDefaults.TelemetrySetup.FleetSourceName;

    public static readonly ActivitySource Source = new(Name, typeof(WorkerTelemetry).Assembly.GetName().Version?.ToString());
    public static readonly Meter Meter = new(Name, typeof(WorkerTelemetry).Assembly.GetName().Version?.ToString());

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(string Model, string Ep), int> UnexplainedFallbacks = new();

    /// <summary>Records the serving model's nodes that did not land on the requested EP (every fallback counts as
    /// unexplained until a manifest can list expected ones), for the <c>ingestfleet.model.unexplained_fallback_nodes</c> gauge.</summary>
    public static void ReportModel(string revision, string executionProvider, int unexplainedFallbackNodes) =>
        UnexplainedFallbacks[(revision, executionProvider)] = unexplainedFallbackNodes;

    static WorkerTelemetry()
    {
        Meter.CreateObservableGauge("ingestfleet.model.unexplained_fallback_nodes",
            () => UnexplainedFallbacks.Select(kv => new Measurement<int>(kv.Value,
                new KeyValuePair<string, object?>("gen_ai.request.model", kv.Key.Model), new KeyValuePair<string, object?>("ingestfleet.execution_provider", kv.Key.Ep))),
            "{node}", "Model nodes placed on the CPU EP instead of the requested one, per model and EP");
        Meter.CreateObservableGauge("ingestfleet.process.peak_rss", () => Embedding.Diagnostics.RssSampler.ProcessPeakBytes, "By",
            "Peak resident set size of this process since start");
        Meter.CreateObservableGauge("ingestfleet.process.swap", () => Embedding.Diagnostics.ProcessMemory.Swap().UsedBytes, "By",
            "Swap in use: this process on Linux (VmSwap), the whole system on macOS; -1 where unknown");
    }

    /// <summary>The GenAI semantic conventions' advice for operation-duration buckets (seconds).</summary>
    public static readonly double[] GenAiDurationBuckets = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];

    /// <summary>Wall time of one embedded batch (fetch → vectors written); GenAI name and buckets.</summary>
    public static readonly Histogram<double> OperationDuration = Meter.CreateHistogram<double>("gen_ai.client.operation.duration", "s",
        "Duration of one embeddings batch, fetch to results stored", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = GenAiDurationBuckets });

    /// <summary>Per job: enqueue (producer's stamp) → its batch starts.</summary>
    public static readonly Histogram<double> QueueWait = Meter.CreateHistogram<double>("ingestfleet.queue.wait", "s",
        "Time a job waited from enqueue to the start of its batch", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = GenAiDurationBuckets });

    /// <summary>Bucket bounds for byte-sized instruments: 32 MiB to 64 GiB in powers of two. OpenTelemetry's default
    /// bounds stop at 10,000, where every byte count would land in the +Inf bucket.</summary>
    public static readonly long[] MemoryBuckets = [.. Enumerable.Range(5, 12).Select(i => (1L << i) * 1024 * 1024)];

    /// <summary>Peak resident set size of one batch.</summary>
    public static readonly Histogram<long> BatchPeakRss = Meter.CreateHistogram<long>("ingestfleet.batch.peak_rss", "By",
        "Peak resident set size sampled during one batch (decode, resize and inference included)",
        advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = MemoryBuckets });

    public static readonly Counter<long> ImagesEmbedded = Meter.CreateCounter<long>("ingestfleet.images.embedded", "{image}",
        "Images embedded and stored as vectors (already-present vectors included)");

    /// <summary>Tag error.type = the reason code.</summary>
    public static readonly Counter<long> ImagesRejected = Meter.CreateCounter<long>("ingestfleet.images.rejected", "{image}",
        "Images that ended as a dead letter, by reason code");

    public static readonly Counter<long> DeadLettered = Meter.CreateCounter<long>("ingestfleet.images.dead_lettered", "{image}",
        "Dead-letter records written to the store");

    public static readonly Counter<long> Deferred = Meter.CreateCounter<long>("ingestfleet.images.deferred", "{image}",
        "Items put back on their queue because their fetch outlasted the per-item budget (Fetch:ItemBudgetSeconds)");
}
