using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace IngestFleet.Worker.Telemetry;

/// <summary>
/// The fleet's own ActivitySource and Meter, both named <c>IngestFleet</c> (enable them with AddSource/AddMeter).
/// Instruments are created here once so every part of the process counts into the same series.
/// </summary>
public static class FleetTelemetry
{
    public const string Name = "IngestFleet";

    public static readonly ActivitySource Source = new(Name, typeof(FleetTelemetry).Assembly.GetName().Version?.ToString());
    public static readonly Meter Meter = new(Name, typeof(FleetTelemetry).Assembly.GetName().Version?.ToString());

    static FleetTelemetry()
    {
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

    /// <summary>Peak resident set size of one batch.</summary>
    public static readonly Histogram<long> BatchPeakRss = Meter.CreateHistogram<long>("ingestfleet.batch.peak_rss", "By",
        "Peak resident set size sampled during one batch (decode, resize and inference included)");

    public static readonly Counter<long> ImagesEmbedded = Meter.CreateCounter<long>("ingestfleet.images.embedded", "{image}",
        "Images embedded and stored as vectors (already-present vectors included)");

    /// <summary>Tag error.type = the reason code.</summary>
    public static readonly Counter<long> ImagesRejected = Meter.CreateCounter<long>("ingestfleet.images.rejected", "{image}",
        "Images that ended as a dead letter, by reason code");

    public static readonly Counter<long> DeadLettered = Meter.CreateCounter<long>("ingestfleet.images.dead_lettered", "{image}",
        "Dead-letter records written to the store");

    /// <summary>Jobs parked in S3 by the shedder; tags: messaging.destination.name, tenant, shard.</summary>
    public static readonly Counter<long> ShedItems = Meter.CreateCounter<long>("ingestfleet.shed.items", "{item}",
        "Jobs moved out of RabbitMQ into the shed/ parking prefix because their queue passed its published max depth");

    /// <summary>Gateway answers that refused work; tags: messaging.destination.name, http.response.status_code.</summary>
    public static readonly Counter<long> GatewayRefused = Meter.CreateCounter<long>("ingestfleet.gateway.refused", "{job}",
        "Jobs the gateway answered 429 or 503 for");

    /// <summary>Jobs the gateway published with a broker confirm; tag: messaging.destination.name.</summary>
    public static readonly Counter<long> GatewayAccepted = Meter.CreateCounter<long>("ingestfleet.gateway.accepted", "{job}",
        "Jobs the gateway published and the broker confirmed");
}
