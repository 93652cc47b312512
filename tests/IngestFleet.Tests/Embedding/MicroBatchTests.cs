using IngestFleet.Embedding;
using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Preprocessing;

namespace IngestFleet.Tests.Embedding;

public sealed class MicroBatchTests
{
    [Theory]
    [InlineData(16, 16, 0, new[] { 2, 14 })]
    [InlineData(32, 32, 0, new[] { 4, 28 })]
    [InlineData(16, 8, 0, new[] { 1, 7, 8 })]
    [InlineData(17, 8, 0, new[] { 1, 8, 8 })]
    [InlineData(32, 8, 0, new[] { 1, 7, 8, 8, 8 })]
    [InlineData(3, 16, 0, new[] { 2, 1 })]
    [InlineData(2, 16, 0, new[] { 2 })]
    [InlineData(5, 1, 0, new[] { 1, 1, 1, 1, 1 })]
    [InlineData(0, 16, 0, new int[0])]
    [InlineData(16, 16, 16, new[] { 16 })]
    [InlineData(16, 8, 16, new[] { 8, 8 })]
    [InlineData(17, 8, 16, new[] { 8, 8, 1 })]
    public void MicroBatches_StartShort_ThenSplitEvenly_UnlessTheBatchIsPadded(int count, int microBatch, int fixedBatch, int[] sizes)
    {
        var calls = EmbeddingPipeline.MicroBatches(count, microBatch, fixedBatch).ToArray();
        Assert.Equal(sizes, calls.Select(c => c.End - c.Start));
        // In order, contiguous, every image once, no call past the micro-batch.
        Assert.Equal(Enumerable.Range(0, count), calls.SelectMany(c => Enumerable.Range(c.Start, c.End - c.Start)));
        Assert.All(calls, c => Assert.InRange(c.End - c.Start, 1, microBatch));
    }

    [Fact]
    public async Task AShortFirstCall_GivesTheSameVectorsAndReasonsAsOneImageAtATime()
    {
        using var embedder = Embedder.Load(TestPaths.Clip, new EmbedderOptions { ExecutionProvider = ExecutionProvider.Cpu, IntraOpThreads = 2 });
        var pipeline = new EmbeddingPipeline(new ImagePreprocessor(embedder.Manifest.Preprocess), embedder);
        var names = new[] { "astronaut.jpg", "coffee.jpg", "rocket.jpg", "chelsea.jpg", "color.jpg", "retina.jpg", "motorcycle_left.jpg" };
        var images = names.Select(n => (ReadOnlyMemory<byte>)File.ReadAllBytes(Path.Combine(TestPaths.Photos, n))).ToList();
        images.Insert(1, await File.ReadAllBytesAsync(Path.Combine(TestPaths.Hostile, "empty.jpg"))); // a refusal inside the short first call
        var sources = images.Select(b => (Func<CancellationToken, Task<ImageSource>>)(_ => Task.FromResult(ImageSource.Of(b)))).ToArray();

        // Micro-batch 16 over 8 images: calls of 2 and 6.
        var (together, _) = await pipeline.ProcessAsync(sources, 2, 16, CancellationToken.None);

        Assert.Equal(images.Count, together.Length);
        for (var i = 0; i < images.Count; i++)
        {
            var alone = pipeline.Process([images[i]], 1)[0];
            Assert.Equal(alone.Reason, together[i].Reason);
            if (alone.Ok) Assert.InRange(VectorMath.Cosine(alone.Vector!, together[i].Vector), 0.99999, 1.00001);
        }
        Assert.Equal(IngestFleet.Contracts.ReasonCodes.Empty, together[1].Reason);
    }
}

public sealed class CallCapTests
{
    [Fact]
    public async Task ACallCap_SplitsEachPlannedCall_ReadBeforeEveryCall_WithTheSameVectors()
    {
        using var embedder = Embedder.Load(TestPaths.Clip, new EmbedderOptions { ExecutionProvider = ExecutionProvider.Cpu, IntraOpThreads = 2 });
        var pipeline = new EmbeddingPipeline(new ImagePreprocessor(embedder.Manifest.Preprocess), embedder);
        var names = new[] { "astronaut.jpg", "coffee.jpg", "rocket.jpg", "chelsea.jpg", "color.jpg", "retina.jpg", "motorcycle_left.jpg", "astronaut.jpg" };
        var bytes = await Task.WhenAll(names.Select(n => File.ReadAllBytesAsync(Path.Combine(TestPaths.Photos, n))));
        var sources = bytes.Select(b => (Func<CancellationToken, Task<ImageSource>>)(_ => Task.FromResult(ImageSource.Of(b)))).ToArray();

        var before = embedder.Calls;
        var (whole, _) = await pipeline.ProcessAsync(sources, 2, 8, CancellationToken.None);
        Assert.Equal(2, embedder.Calls - before); // planned: 1 image, then 7

        // Capped at 2 for the first three reads, then uncapped: (0,1), (1,3), (3,5), then the rest of the planned call (5,8).
        var reads = 0;
        before = embedder.Calls;
        var (capped, _) = await pipeline.ProcessAsync(sources, 2, 8, CancellationToken.None, callCap: () => ++reads <= 3 ? 2 : 0);
        Assert.Equal(4, embedder.Calls - before);
        Assert.Equal(4, reads);
        for (var i = 0; i < names.Length; i++)
            Assert.InRange(VectorMath.Cosine(whole[i].Vector!, capped[i].Vector), 0.99999, 1.00001);
    }

    [Fact]
    public void LessUrgentLevels_SeeUrgentWork_WhileItRuns_AndForTheWindowAfter()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var gate = new IngestFleet.Worker.Scheduling.PriorityGate(2, 4, time);
        var window = TimeSpan.FromSeconds(10);
        Assert.False(gate.UrgentWithin(3, window)); // nothing urgent has ever run
        var online = gate.Claim(0);
        Assert.True(gate.UrgentWithin(3, window));
        Assert.False(gate.UrgentWithin(0, window)); // nothing is more urgent than the first level
        time.Advance(TimeSpan.FromMinutes(5));
        Assert.True(gate.UrgentWithin(3, window)); // still in progress
        online.Dispose();
        time.Advance(TimeSpan.FromSeconds(9));
        Assert.True(gate.UrgentWithin(2, window));
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.False(gate.UrgentWithin(2, window));
        using var high = gate.Claim(1);
        Assert.True(gate.UrgentWithin(2, window));
        Assert.False(gate.UrgentWithin(1, window)); // its own level does not count
    }
}

public sealed class MicroBatchChoiceTests
{
    [Theory]
    [InlineData(new string[0], "online", false)]      // consumes every class: online is the most urgent
    [InlineData(new string[0], "bulk", true)]          // bulk yields to online on the same worker
    [InlineData(new[] { "bulk" }, "bulk", false)]      // a bulk-only pool (or a single-class ingest) yields to nobody
    [InlineData(new[] { "high", "bulk" }, "high", false)]
    [InlineData(new[] { "high", "bulk" }, "bulk", true)]
    public void ABatchYields_OnlyToAMoreUrgentClassTheWorkerAlsoConsumes(string[] consume, string priority, bool yields)
    {
        var fleet = new IngestFleet.Messaging.FleetOptions { Consume = consume, BatchSize = 16 };
        Assert.Equal(yields, fleet.YieldsToUrgent(priority));
        // Whole-batch calls for the most urgent class; half a batch for one the priority gate may hold between calls.
        Assert.Equal(yields ? 8 : 16, fleet.EffectiveMicroBatchFor(fleet.YieldsToUrgent(priority)));
        Assert.False(new IngestFleet.Messaging.FleetOptions { Consume = consume, PriorityScheduling = false }.YieldsToUrgent(priority));
        Assert.Equal(5, new IngestFleet.Messaging.FleetOptions { MicroBatch = 5 }.EffectiveMicroBatchFor(yields)); // an explicit setting wins
    }
}
