using IngestFleet.Embedding;
using IngestFleet.Embedding.Diagnostics;
using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Models;
using IngestFleet.ModelTools;
using Xunit.Abstractions;

namespace IngestFleet.Tests.Embedding;

/// <summary>A second session of the same model (the worker's low-priority one) shares the first one's weights: measured
/// as the RSS a second session adds, with and without sharing, on a forged 100-MB tower.</summary>
[Collection(ProcessMemoryTestGroup.Name)]
public sealed class SharedWeightsTests(ITestOutputHelper output)
{
    private static readonly Lazy<ModelManifest> Tower = new(() => ModelForge.Forge(new ForgeOptions
    {
        Family = ModelFamily.Clip, Width = 512, Layers = 8, Heads = 8, Patch = 32, OutputDim = 512, Seed = 5, Revision = "clip-w512-l8-shared-weights-test", GoldenCount = 1,
    }, Path.Combine(Path.GetTempPath(), "ingestfleet-test-models", "clip-w512-l8-shared-weights-test"), epsilon: 1e-3));

    private static long SecondSessionCost(ModelManifest m, bool share, out float[] a, out float[] b)
    {
        var options = new EmbedderOptions { ExecutionProvider = ExecutionProvider.Cpu, IntraOpThreads = 1, ShareWeights = share, VerifyGoldenPack = false };
        using var first = Embedder.Load(m, options);
        var input = new float[first.ImageLength];
        for (var i = 0; i < input.Length; i++) input[i] = (i % 97) / 97f;
        a = first.Embed(input, 1)[0].Vector!;
        GC.Collect();
        var before = ProcessMemory.CurrentRss();
        using var second = Embedder.Load(m, options);
        b = second.Embed(input, 1)[0].Vector!;
        return ProcessMemory.CurrentRss() - before;
    }

    [Fact]
    public void ASecondSessionOfTheSameModel_AddsFarLessThanTheWeights_WhenShared()
    {
        var m = Tower.Value;
        var weights = new FileInfo(m.OnnxPath).Length;
        // Unshared first: memory it frees is reused by the shared run, which can only flatter the unshared figure.
        var unshared = SecondSessionCost(m, share: false, out var ua, out var ub);
        var shared = SecondSessionCost(m, share: true, out var sa, out var sb);
        output.WriteLine($"weights {weights >> 20} MiB; second session adds {unshared >> 20} MiB unshared, {shared >> 20} MiB shared");
        Assert.True(unshared > weights * 0.6, $"unshared second session added only {unshared >> 20} MiB for {weights >> 20} MiB of weights: the measurement does not see the copy");
        Assert.True(shared < weights * 0.25, $"shared second session still added {shared >> 20} MiB for {weights >> 20} MiB of weights");
        Assert.Equal(ua, ub); // same weights, same answers
        Assert.Equal(sa, sb);
        Assert.Equal(ua, sa);
    }
}
