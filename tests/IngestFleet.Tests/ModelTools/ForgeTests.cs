using IngestFleet.Embedding.Models;
using IngestFleet.ModelTools;

namespace IngestFleet.Tests.ModelTools;

public sealed class ForgeTests
{
    [Fact]
    public void Forge_IsDeterministicPerSeed_AndSeedsDiffer()
    {
        var options = new ForgeOptions { Family = ModelFamily.SigLip, Width = 32, Layers = 1, Heads = 2, Patch = 32, OutputDim = 768, Seed = 42, GoldenCount = 1 };
        var root = Path.Combine(Path.GetTempPath(), "ingestfleet-tests", Guid.NewGuid().ToString("N"));
        var a = ModelForge.Forge(options, Path.Combine(root, "a"));
        var b = ModelForge.Forge(options, Path.Combine(root, "b"));
        var c = ModelForge.Forge(options with { Seed = 43 }, Path.Combine(root, "c"));
        Assert.Equal(a.Onnx.Sha256, b.Onnx.Sha256);
        Assert.NotEqual(a.Onnx.Sha256, c.Onnx.Sha256);
        Assert.Equal(768, a.OutputDimension);
        Assert.Equal(File.ReadAllBytes(a.GoldenPath), File.ReadAllBytes(b.GoldenPath));
    }

    [Fact]
    public void ForgedArchitectures_HaveTheFamilyDistinguishingParts()
    {
        var clip = ModelForge.Build(new ForgeOptions { Family = ModelFamily.Clip, Width = 32, Layers = 1, Heads = 2 });
        var siglip = ModelForge.Build(new ForgeOptions { Family = ModelFamily.SigLip, Width = 32, Layers = 1, Heads = 2, Patch = 16, OutputDim = 768 });
        var clipInit = clip.Graph.Initializer.Select(t => t.Name).ToHashSet();
        var siglipInit = siglip.Graph.Initializer.Select(t => t.Name).ToHashSet();
        Assert.Contains("class_embedding", clipInit);
        Assert.Contains("pre_ln.weight", clipInit);
        Assert.DoesNotContain("class_embedding", siglipInit);
        Assert.Contains("head.probe", siglipInit);
        Assert.Contains("head.attn.q.weight", siglipInit);
        // CLIP: 7×7 patches + class token; SigLIP: 14×14 patches, no class token.
        Assert.Equal([1L, 50, 32], clip.Graph.Initializer.Single(t => t.Name == "position_embedding").Dims);
        Assert.Equal([1L, 196, 32], siglip.Graph.Initializer.Single(t => t.Name == "position_embedding").Dims);
        Assert.Contains(clip.Graph.Node, n => n.OpType == "Sigmoid");  // QuickGELU
        Assert.Contains(siglip.Graph.Node, n => n.OpType == "Tanh");   // tanh-GELU
    }
}
