using IngestFleet.Embedding.Inference;
using IngestFleet.Messaging;
using IngestFleet.Storage;
using IngestFleet.Worker.Scheduling;
using IngestFleet.Worker.Telemetry;
using IngestFleet.Worker.Profiles;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace IngestFleet.Worker.Hosting;

/// <summary>Logs the serving configuration once at start-up: batch and thread caps side by side.</summary>
internal sealed class StartupLogger(Embedder embedder, FleetOptions fleet, IObjectStore store, LoadedProfile loaded, BackgroundStagesHolder background, SharedWeightsHolder weights,
    IngestFleet.Worker.Fetching.FetchOptions fetch, IngestFleet.Worker.Fetching.SourcePolicyOptions sources, ILogger<StartupLogger> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        WorkerTelemetry.ReportModel(embedder.Manifest.Revision, embedder.ExecutionProvider.Name(), embedder.UnexplainedFallbackCount);
        if (fetch.TestOnlyAllowLoopback)
            logger.LogWarning("IngestFleet:Fetch:TestOnlyAllowLoopback is on: https:// to 127.0.0.1 is admitted and its certificate trusted. Never on a node.");
        if (!sources.Enforced && !fetch.AllowFileScheme) // the embedded mode reads local files
            logger.LogWarning("no s3:// source allow-list (IngestFleet:SourcePolicy:S3Sources): any tenant's job may read any object these credentials reach");
        if (background.Stages is { } bg)
            logger.LogInformation("priority scheduling: {Classes} run their CPU stages on {Threads} low-OS-priority threads ({Lowered} lowered) with {Session}; {First} keeps normal priority",
                string.Join(", ", fleet.Priorities.Skip(1)), bg.Executor.Threads, bg.Executor.LoweredThreads,
                bg.OwnSession
                    ? weights.Weights is { } w ? $"a second ORT session sharing the first one's weights ({w.Count} tensors, {w.Bytes >> 20} MiB held once)" : "a second ORT session"
                    : "the foreground ORT session (the model runs on the device)",
                fleet.Priorities[0]);
        if (loaded.Profile is { } p)
        {
            logger.LogInformation("tuned profile {Path}: batch {Batch}, batches in flight {InFlight}, intra-op threads {Intra}, inter-op threads {Inter} (tuned {When:u} on {Host}, {Ep})",
                loaded.Path, p.Batch, p.BatchesInFlight?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "(not set)", p.IntraOpThreads, p.InterOpThreads, p.CreatedAt, p.Machine.Host, p.ExecutionProvider);
            if (p.ExecutionProvider != embedder.ExecutionProvider)
                logger.LogWarning("the profile was tuned on {ProfileEp} but this worker runs {Ep}; re-tune on this EP for trustworthy caps", p.ExecutionProvider, embedder.ExecutionProvider);
        }
        logger.LogInformation(
            "IngestFleet worker: model {Revision} ({Dim}-d) on {Ep}; batch {Batch} × {InFlight} in flight (prefetch {Prefetch}), micro-batch {Micro}, intra-op threads {Intra}, inter-op threads {Inter}, decode parallelism {Decode}; queues {Queues}; store {Store}",
            embedder.Manifest.Revision, embedder.Dimension, embedder.ExecutionProvider.Name(), fleet.BatchSize, fleet.BatchesInFlight, fleet.Prefetch, fleet.EffectiveMicroBatch,
            embedder.Options.EffectiveIntraOpThreads, embedder.Options.InterOpThreads, fleet.EffectivePreprocessParallelism,
            string.Join(", ", fleet.Priorities.Select(fleet.QueueName)), store.Location);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
