using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Models;
using IngestFleet.ModelTools;

namespace IngestFleet.Tests.Embedding;

/// <summary>The golden-pack tolerance per EP: FP32 EPs keep the manifest's epsilon; Core ML (FP16 on the Neural Engine)
/// gets a default set from the FP16 simulation's measurement with a margin, and a manifest can override either.</summary>
public sealed class Fp16ToleranceTests
{
    [Theory]
    [InlineData("clip-tiny-r1")]
    [InlineData("siglip-tiny-r1")]
    public void TheFp16Simulation_MovesTheVectors_AndStaysWithinTheCoreMLTolerance(string revision)
    {
        var manifest = ManifestLoader.Load(Path.Combine(TestPaths.Models, revision, "manifest.json"));
        using var fp32 = Embedder.Load(manifest, new EmbedderOptions { ExecutionProvider = ExecutionProvider.Cpu, IntraOpThreads = 2, VerifyGoldenPack = false });
        var exact = fp32.VerifyGoldenPack();
        var fp16 = Fp16GoldenCheck.WorstDistance(manifest);
        Assert.True(fp16 > exact * 100 && fp16 > 1e-8, $"FP16 rounding must show in the golden pack: fp32 {exact:G3}, fp16 {fp16:G3}");
        Assert.True(fp16 <= manifest.Golden.EpsilonFor("coreml"), $"fp16 {fp16:G3} > Core ML epsilon {manifest.Golden.EpsilonFor("coreml"):G3}");
        Assert.True(fp16 * 100 <= GoldenSpec.DefaultFp16Epsilon, "the default keeps a wide margin over the simulation");
    }

    [Fact]
    public void EpsilonFor_UsesTheFp16DefaultOnCoreMLOnly_AndTheManifestOverridesIt()
    {
        var golden = new GoldenSpec { File = "golden.bin", Epsilon = 1e-4 };
        Assert.Equal(1e-4, golden.EpsilonFor("cpu"));
        Assert.Equal(1e-4, golden.EpsilonFor("cuda"));
        Assert.Equal(GoldenSpec.DefaultFp16Epsilon, golden.EpsilonFor("coreml"));
        var tuned = golden with { EpsilonByEp = new() { ["coreml"] = 5e-3, ["cuda"] = 2e-4 } };
        Assert.Equal(5e-3, tuned.EpsilonFor("coreml"));
        Assert.Equal(2e-4, tuned.EpsilonFor("cuda"));
        Assert.Equal(1e-4, tuned.EpsilonFor("cpu"));
    }

    [Fact]
    public void AnEpsilonForAnUnknownEp_IsRefusedByTheManifestLoader()
    {
        var dir = TestPaths.CopyModel("clip-tiny-r1");
        var path = Path.Combine(dir, "manifest.json");
        var text = File.ReadAllText(path);
        File.WriteAllText(path, text.Replace("\"epsilon\": 0.0001", "\"epsilon\": 0.0001, \"epsilon_by_ep\": { \"coreml\": 0.004 }", StringComparison.Ordinal));
        Assert.Equal(0.004, ManifestLoader.Load(path).Golden.EpsilonFor("coreml"));
        File.WriteAllText(path, text.Replace("\"epsilon\": 0.0001", "\"epsilon\": 0.0001, \"epsilon_by_ep\": { \"npu\": 0.004 }", StringComparison.Ordinal));
        Assert.Contains("epsilon_by_ep.npu", Assert.Throws<ModelManifestException>(() => ManifestLoader.Load(path)).Message, StringComparison.Ordinal);
    }
}
