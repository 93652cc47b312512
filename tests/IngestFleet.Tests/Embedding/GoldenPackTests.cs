using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Models;
using IngestFleet.ModelTools;

namespace IngestFleet.Tests.Embedding;

public class GoldenPackTests
{
    [Theory]
    [InlineData("clip-tiny-r1")]
    [InlineData("siglip-tiny-r1")]
    public void BundledGoldenPack_PassesOnCpu(string revision)
    {
        var manifest = ManifestLoader.Load(Path.Combine(TestPaths.Models, revision));
        using var embedder = Embedder.Load(manifest, new EmbedderOptions { ExecutionProvider = ExecutionProvider.Cpu });
        Assert.InRange(embedder.GoldenWorstDistance, 0, manifest.Golden.Epsilon);
    }

    [Fact]
    public void PerturbedGoldenPack_RefusesToServe_NamingModelEpDistanceAndEpsilon()
    {
        var dir = TestPaths.CopyModel("clip-tiny-r1");
        var manifest = ManifestLoader.Load(dir);
        var pack = GoldenPack.Read(manifest.GoldenPath);
        var rng = new SeededRandom(7);
        for (var i = 0; i < pack.OutputDim; i++) pack.Outputs[i] += (float)rng.NextNormal(); // bend the first vector
        pack.Write(manifest.GoldenPath);

        var e = Assert.Throws<GoldenPackMismatchException>(() => Embedder.Load(manifest, new EmbedderOptions { ExecutionProvider = ExecutionProvider.Cpu }));
        Assert.Equal("clip-tiny-r1", e.Revision);
        Assert.Equal("cpu", e.Ep);
        Assert.True(e.Worst > manifest.Golden.Epsilon);
        Assert.Contains("clip-tiny-r1", e.Message);
        Assert.Contains("cpu", e.Message);
        Assert.Contains(e.Worst.ToString("G4"), e.Message);
        Assert.Contains(manifest.Golden.Epsilon.ToString("G4"), e.Message);
    }

}
