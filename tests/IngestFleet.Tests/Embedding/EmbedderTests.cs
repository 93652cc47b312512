using IngestFleet.Contracts;
using IngestFleet.Embedding;
using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Preprocessing;

namespace IngestFleet.Tests.Embedding;

public sealed class EmbedderTests : IDisposable
{
    private readonly Embedder _embedder = Embedder.Load(TestPaths.Clip, new EmbedderOptions { ExecutionProvider = ExecutionProvider.Cpu, IntraOpThreads = 2 });

    public void Dispose() => _embedder.Dispose();

    private float[] PhotoTensor(string name)
    {
        var p = new ImagePreprocessor(_embedder.Manifest.Preprocess);
        var t = new float[p.TensorLength];
        Assert.True(p.Preprocess(File.ReadAllBytes(Path.Combine(TestPaths.Photos, name)), t).Ok);
        return t;
    }

    [Fact]
    public void Outputs_AreUnitVectorsOfTheManifestDimension()
    {
        var r = _embedder.Embed(PhotoTensor("astronaut.jpg"), 1).Single();
        Assert.True(r.Ok);
        Assert.Equal(512, r.Vector!.Length);
        Assert.InRange(VectorMath.Norm(r.Vector), 0.99999, 1.00001);
    }

    [Fact]
    public void OneEmbedderSharedByManyThreads_GivesIdenticalVectors()
    {
        var inputs = TestPaths.SamplePhotos.Select(PhotoTensor).ToArray();
        var reference = inputs.Select(t => _embedder.Embed(t, 1)[0].Vector!).ToArray();
        var mismatches = 0;
        Parallel.For(0, 64, new ParallelOptions { MaxDegreeOfParallelism = 16 }, i =>
        {
            var k = i % inputs.Length;
            var v = _embedder.Embed(inputs[k], 1)[0].Vector!;
            if (!v.AsSpan().SequenceEqual(reference[k])) Interlocked.Increment(ref mismatches);
        });
        Assert.Equal(0, mismatches);
    }

    [Fact]
    public void NonFiniteOutput_BecomesAReasonCode_WithoutFailingTheBatch()
    {
        var good = PhotoTensor("coffee.jpg");
        var batch = new float[2 * good.Length];
        good.CopyTo(batch, 0);
        batch.AsSpan(good.Length).Fill(float.NaN);
        var results = _embedder.Embed(batch, 2);
        Assert.True(results[0].Ok);
        Assert.Equal(ReasonCodes.NonFiniteOutput, results[1].Rejection?.Code);
    }

    [Fact]
    public void FixedBatchPadding_GivesTheSameVectorsAsDynamicBatches()
    {
        using var padded = Embedder.Load(TestPaths.Clip, new EmbedderOptions { ExecutionProvider = ExecutionProvider.Cpu, FixedBatch = 4, IntraOpThreads = 2 });
        var t = PhotoTensor("rocket.jpg");
        var a = _embedder.Embed(t, 1)[0].Vector!;
        var b = padded.Embed(t, 1)[0].Vector!;
        Assert.InRange(VectorMath.Cosine(a, b), 0.99999, 1.00001);
        Assert.Equal(4, padded.FixedBatch);
    }

    [NotOnMacFact] // Core ML exists there; this pins the Linux/Windows behaviour
    public void CoreML_OnLinux_IsAClearErrorNamingTheAlternatives()
    {
        var e = Assert.Throws<ExecutionProviderUnavailableException>(() => Embedder.Load(TestPaths.Clip, new EmbedderOptions { ExecutionProvider = ExecutionProvider.CoreML }));
        Assert.Contains("coreml", e.Message);
        Assert.Contains("CPUExecutionProvider", e.Message);
        Assert.Contains("--ep cpu", e.Message);
        Assert.Equal(ExecutionProvider.Cpu, Embedder.ResolveProvider(ExecutionProvider.Auto));
    }

    [Fact]
    public void PlacementReport_CountsNodesPerProvider()
    {
        Assert.True(_embedder.Placement.NodesPerProvider["CPUExecutionProvider"] > 10);
        Assert.Empty(_embedder.Placement.FallbackNodes);
    }

    [Fact]
    public void Pipeline_KeepsRejectedItemsOutOfTheModelAndInOrder()
    {
        var pipeline = new EmbeddingPipeline(new ImagePreprocessor(_embedder.Manifest.Preprocess), _embedder);
        var images = new ReadOnlyMemory<byte>[]
        {
            File.ReadAllBytes(Path.Combine(TestPaths.Hostile, "empty.jpg")),
            File.ReadAllBytes(Path.Combine(TestPaths.Photos, "coffee.jpg")),
            File.ReadAllBytes(Path.Combine(TestPaths.Hostile, "truncated-half.jpg")),
            File.ReadAllBytes(Path.Combine(TestPaths.Photos, "astronaut.jpg")),
        };
        var outcomes = pipeline.Process(images, 2);
        Assert.Equal([ReasonCodes.Empty, null, ReasonCodes.Truncated, null], outcomes.Select(o => o.Reason));
        var alone = pipeline.Process([images[3]], 1)[0].Vector!;
        Assert.InRange(VectorMath.Cosine(alone, outcomes[3].Vector), 0.99999, 1.00001);
    }
}
