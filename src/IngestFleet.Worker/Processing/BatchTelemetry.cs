using System.Diagnostics;
using IngestFleet.Contracts;
using IngestFleet.Embedding;
using IngestFleet.Messaging;
using IngestFleet.Worker.Fetching;
using IngestFleet.Worker.Telemetry;
using IngestFleet.Embedding.Inference;

namespace IngestFleet.Worker.Processing;

/// <summary>
/// One span per batch after the GenAI semantic conventions for embeddings (<c>embeddings {model}</c>), enriched with
/// the batch's serving configuration and stage timings, and the batch's metrics. Kept apart from processing so the
/// processor reads as the data flow.
/// </summary>
public sealed class BatchTelemetry(EmbeddingPipeline pipeline, FleetOptions fleet, FetchOptions fetchOptions, TimeProvider time)
{
    public BatchSpan Start(IReadOnlyList<EmbedCatalogImage> jobs, string priority, bool lowOsPriority)
    {
        var embedder = pipeline.Embedder;
        var revision = embedder.Manifest.Revision;
        var activity = WorkerTelemetry.Source.StartActivity($"embeddings {revision}", ActivityKind.Internal);
        var queue = fleet.QueueName(priority);
        var now = time.GetUtcNow();
        var waits = jobs.Where(j => j.EnqueuedAt is not null).Select(j => Math.Max(0, (now - j.EnqueuedAt!.Value).TotalSeconds)).ToArray();
        foreach (var w in waits) WorkerTelemetry.QueueWait.Record(w, new KeyValuePair<string, object?>("messaging.destination.name", queue));
        if (activity is not null)
        {
            activity.SetTag("gen_ai.operation.name", "embeddings");
            activity.SetTag("gen_ai.provider.name", "onnxruntime");
            activity.SetTag("gen_ai.request.model", revision);
            activity.SetTag("gen_ai.embeddings.dimension.count", embedder.Dimension);
            activity.SetTag("messaging.system", fetchOptions.AllowFileScheme ? "in-memory" : "rabbitmq"); // file:// is embedded mode only
            activity.SetTag("messaging.destination.name", queue);
            activity.SetTag("messaging.batch.message_count", jobs.Count);
            activity.SetTag("ingestfleet.batch.size", jobs.Count);
            activity.SetTag("ingestfleet.batch.limit", fleet.BatchSize);
            activity.SetTag("ingestfleet.threads.intra_op", embedder.Options.EffectiveIntraOpThreads);
            activity.SetTag("ingestfleet.threads.inter_op", embedder.Options.InterOpThreads);
            activity.SetTag("ingestfleet.execution_provider", embedder.ExecutionProvider.Name());
            activity.SetTag("ingestfleet.device", embedder.ExecutionProvider switch
            {
                ExecutionProvider.Cuda => $"cuda:{embedder.Options.CudaDeviceId}",
                ExecutionProvider.CoreML => "apple-ane-gpu-cpu",
                _ => "cpu",
            });
            activity.SetTag("ingestfleet.fallback_nodes", embedder.Placement.FallbackCount);
            activity.SetTag("ingestfleet.unexplained_fallback_nodes", embedder.UnexplainedFallbackCount);
            if (embedder.Placement.EpNodeShare is { } share) activity.SetTag("ingestfleet.ep_node_share", share);
            activity.SetTag("ingestfleet.priority", priority);
            activity.SetTag("ingestfleet.os_priority", lowOsPriority ? "low" : "normal");
            if (waits.Length > 0)
            {
                activity.SetTag("ingestfleet.queue.wait.max_s", waits.Max());
                activity.SetTag("ingestfleet.queue.wait.mean_s", waits.Average());
            }
        }
        return new BatchSpan(activity, revision, Stopwatch.GetTimestamp());
    }
}
