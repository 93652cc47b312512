using System.Diagnostics;
using IngestFleet.Embedding;
using IngestFleet.Embedding.Diagnostics;
using IngestFleet.Worker.Telemetry;

namespace IngestFleet.Worker.Processing;

/// <summary>The span of one batch; <see cref="Complete"/> records the batch's metrics and final tags.</summary>
public sealed class BatchSpan(Activity? activity, string revision, long started) : IDisposable
{
    public void Complete(BatchReport report, IReadOnlyList<ItemOutcome> outcomes)
    {
        var timings = report.Timings;
        var modelTag = new KeyValuePair<string, object?>("gen_ai.request.model", revision);
        WorkerTelemetry.OperationDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds,
            new KeyValuePair<string, object?>("gen_ai.operation.name", "embeddings"), modelTag,
            new KeyValuePair<string, object?>("gen_ai.provider.name", "onnxruntime"));
        WorkerTelemetry.BatchPeakRss.Record(timings.PeakRssBytes, modelTag);
        var embedded = report.Embedded + report.AlreadyPresent;
        if (embedded > 0) WorkerTelemetry.ImagesEmbedded.Add(embedded, modelTag);
        var rejected = outcomes.Where(o => o.Rejection is not null).Select(o => o.Rejection!.Value.Code).ToList();
        foreach (var reason in rejected.GroupBy(code => code))
        {
            WorkerTelemetry.ImagesRejected.Add(reason.Count(), modelTag, new KeyValuePair<string, object?>("error.type", reason.Key));
            WorkerTelemetry.DeadLettered.Add(reason.Count(), modelTag);
        }
        if (activity is null) return;
        activity.SetTag("ingestfleet.preprocess.duration_s", timings.PreprocessSum.TotalSeconds);
        activity.SetTag("ingestfleet.inference.duration_s", timings.Inference.TotalSeconds);
        activity.SetTag("ingestfleet.fetch.duration_s", timings.FetchSum.TotalSeconds);
        activity.SetTag("ingestfleet.write.duration_s", report.Write.TotalSeconds);
        activity.SetTag("ingestfleet.peak_rss_bytes", timings.PeakRssBytes);
        activity.SetTag("ingestfleet.peak_rss.decode_bytes", timings.PeakRssDecodeBytes);
        activity.SetTag("ingestfleet.peak_rss.inference_bytes", timings.PeakRssInferenceBytes);
        activity.SetTag("ingestfleet.swap_bytes", ProcessMemory.Swap().UsedBytes);
        activity.SetTag("ingestfleet.embedded", embedded);
        activity.SetTag("ingestfleet.dead_lettered", report.DeadLettered);
        if (rejected.Count > 0) activity.SetTag("ingestfleet.rejected.reasons", string.Join(",", rejected.Distinct().Order(StringComparer.Ordinal)));
    }

    public void Dispose() => activity?.Dispose();
}
