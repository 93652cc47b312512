using IngestFleet.Embedding;
using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Preprocessing;
using IngestFleet.Messaging;
using IngestFleet.Worker.Hosting;
using IngestFleet.Worker.Scheduling;
using Microsoft.Extensions.Logging.Abstractions;

namespace IngestFleet.Tests.Worker;

public sealed class PipelineWarmupTests : IDisposable
{
    private readonly Embedder _embedder = Embedder.Load(TestPaths.Clip, new EmbedderOptions { ExecutionProvider = ExecutionProvider.Cpu, IntraOpThreads = 2 });

    public void Dispose() => _embedder.Dispose();

    [Fact]
    public async Task Warmup_RunsAWholeBatchThroughEveryStage()
    {
        var pipeline = new EmbeddingPipeline(new ImagePreprocessor(_embedder.Manifest.Preprocess), _embedder);
        using var noBackground = new BackgroundStagesHolder(null);
        var warmup = new PipelineWarmup(pipeline, new FleetOptions { BatchSize = 16 }, noBackground, NullLogger<PipelineWarmup>.Instance);

        await warmup.StartAsync(CancellationToken.None);

        // A whole batch, so both inference calls the worker makes per batch (4 and 12 images) have run once.
        Assert.Equal(16, warmup.Completed?.Images);
    }

    [Fact]
    public async Task AWarmupPhotoTheLimitsRefuse_IsLoggedNotFatal()
    {
        var strict = new ImagePreprocessor(_embedder.Manifest.Preprocess, new ImageLimits { MaxPixels = 1000 });
        using var noBackground = new BackgroundStagesHolder(null);
        var warmup = new PipelineWarmup(new EmbeddingPipeline(strict, _embedder), new FleetOptions { BatchSize = 4 }, noBackground, NullLogger<PipelineWarmup>.Instance);

        await warmup.StartAsync(CancellationToken.None); // does not throw

        Assert.Null(warmup.Completed);
    }
}
