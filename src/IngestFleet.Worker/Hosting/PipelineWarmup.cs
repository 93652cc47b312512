using System.Diagnostics;
using System.Text;
using IngestFleet.Contracts;
using IngestFleet.Embedding;
using IngestFleet.Messaging;
using IngestFleet.VectorStore;
using IngestFleet.Worker.Scheduling;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace IngestFleet.Worker.Hosting;

/// <summary>
/// Runs every stage of a batch once on a built-in photo before the bus starts consuming: the job schema, decode and
/// preprocessing, inference of a whole batch in the calls the worker will make (on each session it holds), and a
/// Parquet part serialized and read back in memory. Nothing is fetched or written to the store. Without it the first
/// real batch also pays for compiling those paths and for ONNX Runtime's first allocations: on the ViT-B/32-size tower
/// (2 cores, batch 16) the first batch took 1.5–1.7 s against 0.9 s for the next ones, 0.3 s of it in schema checking
/// and 0.35 s in writing its part (with the warm-up: 1.1–1.2 s, 0.03 s and 0.04 s). Registered after the model is
/// loaded and before the bus, so a worker consumes (and reports ready) only once warm. A failure here is logged, never
/// fatal: the real batches report their own outcomes.
/// </summary>
public sealed class PipelineWarmup(EmbeddingPipeline pipeline, FleetOptions fleet, BackgroundStagesHolder background, ILogger<PipelineWarmup> logger) : IHostedService
{
    private const string SampleResource = "IngestFleet.Worker.Hosting.warmup.jpg";

    private static readonly byte[] SampleJob = Encoding.UTF8.GetBytes(
        """{"tenant":"warmup","shard":"warmup","item_id":"warmup","image":"https://warmup.invalid/warmup.jpg","priority":"bulk"}""");

    /// <summary>How many images went through every stage and how long it took; null until the warm-up has succeeded.</summary>
    public (int Images, TimeSpan Elapsed)? Completed { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            _ = JobSchema.Evaluate(SampleJob);
            var photo = await ReadSampleAsync(cancellationToken);
            var count = fleet.BatchSize;
            var sources = Enumerable.Repeat<Func<CancellationToken, Task<ImageSource>>>(_ => Task.FromResult(ImageSource.Of(photo)), count).ToArray();
            var (outcomes, _) = await pipeline.ProcessAsync(sources, fleet.EffectivePreprocessParallelism, fleet.EffectiveMicroBatch, cancellationToken);
            if (background.Stages is { } stages)
                await pipeline.ProcessAsync(sources, fleet.EffectivePreprocessParallelism, fleet.EffectiveMicroBatchFor(yieldsToUrgent: true), cancellationToken,
                    background: stages); // the low-priority session serves the classes that yield, in their calls
            if (outcomes.FirstOrDefault(o => !o.Ok) is { Rejection: { } refused })
            {
                logger.LogWarning("Warm-up photo was refused ({Reason}: {Detail}); the first batch will warm the rest", refused.Code, refused.Detail);
                return;
            }
            var rows = outcomes.Select((o, i) => new VectorRow
            {
                ItemId = $"warmup-{i}", Tenant = "warmup", Shard = "warmup", Source = "warmup", ModelRevision = pipeline.Embedder.Manifest.Revision,
                Dimension = o.Vector!.Length, Embedding = o.Vector, PreprocessContract = pipeline.Preprocessor.ContractHash, WrittenAt = DateTime.UtcNow,
            }).ToArray();
            var part = await VectorParquet.SerializeAsync(rows, cancellationToken);
            _ = await VectorParquet.DeserializeAsync(part, cancellationToken);
            Completed = (count, Stopwatch.GetElapsedTime(started));
            logger.LogInformation("Warmed up in {Milliseconds:0} ms ({Count} images through decode, inference and a Parquet part)",
                Completed.Value.Elapsed.TotalMilliseconds, count);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "Warm-up failed; the first batch will warm the pipeline instead");
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static async Task<byte[]> ReadSampleAsync(CancellationToken cancellationToken)
    {
        await using var stream = typeof(PipelineWarmup).Assembly.GetManifestResourceStream(SampleResource)
                                 ?? throw new InvalidOperationException($"resource {SampleResource} is missing from the build");
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy, cancellationToken);
        return copy.ToArray();
    }
}
