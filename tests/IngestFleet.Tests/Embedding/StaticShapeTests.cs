using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Models;
using Onnx;

namespace IngestFleet.Tests.Embedding;

/// <summary>
/// What the Core ML path gives ORT: a graph whose input shapes are fully static. The Core ML EP cannot run here (no
/// Mac), so the same session options are built on the CPU EP: a fixed batch fixes the manifest's symbolic batch axis
/// with ORT's free-dimension override, and the graph ORT will run is written back (OptimizedModelPath) and read.
/// </summary>
public sealed class StaticShapeTests
{
    private static EmbedderOptions Fixed(int batch, int? small, string? optimized = null) => new()
    {
        ExecutionProvider = ExecutionProvider.Cpu, IntraOpThreads = 2, FixedBatch = batch, SmallFixedBatch = small, OptimizedModelPath = optimized,
    };

    [Fact]
    public void AFixedBatch_FixesTheBatchAxis_InTheSessionAndInTheGraphOrtRuns()
    {
        var dir = Directory.CreateTempSubdirectory("ingestfleet-static-").FullName;
        using (var dynamicShape = Embedder.Load(TestPaths.Clip, new EmbedderOptions { ExecutionProvider = ExecutionProvider.Cpu, IntraOpThreads = 2 }))
            Assert.Equal([-1, 3, 224, 224], dynamicShape.InputDimensions); // the manifest's "batch" axis, as exported

        using var embedder = Embedder.Load(TestPaths.Clip, Fixed(16, 2, Path.Combine(dir, "optimized.onnx")));
        Assert.Equal([16, 3, 224, 224], embedder.InputDimensions);
        Assert.Equal([2, 3, 224, 224], embedder.SmallInputDimensions);
        foreach (var (file, batch) in new[] { ("optimized-b16.onnx", 16L), ("optimized-b2.onnx", 2L) })
        {
            ModelProto model;
            using (var stream = File.OpenRead(Path.Combine(dir, file))) model = ModelProto.Parser.ParseFrom(stream);
            var input = Assert.Single(model.Graph.Input, i => i.Name == TestPaths.Clip.Input.Name);
            Assert.Equal([batch, 3L, 224L, 224L], input.Type.TensorType.Shape.Dim.Select(d => d.DimValue));
            Assert.All(input.Type.TensorType.Shape.Dim, d => Assert.True(string.IsNullOrEmpty(d.DimParam)));
            var output = Assert.Single(model.Graph.Output);
            Assert.Equal([batch, 512L], output.Type.TensorType.Shape.Dim.Select(d => d.DimValue));
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(17)]
    public void TheSmallAndTheFullFixedSession_EmbedAsTheDynamicSessionDoes(int count)
    {
        var photos = TestPaths.SamplePhotos.Select(p => File.ReadAllBytes(Path.Combine(TestPaths.Photos, p))).ToList();
        var pre = new IngestFleet.Embedding.Preprocessing.ImagePreprocessor(TestPaths.Clip.Preprocess);
        var pixels = new float[count * pre.TensorLength];
        for (var i = 0; i < count; i++) Assert.True(pre.Preprocess(photos[i % photos.Count], pixels.AsSpan(i * pre.TensorLength, pre.TensorLength)).Ok);

        using var dynamicShape = Embedder.Load(TestPaths.Clip, new EmbedderOptions { ExecutionProvider = ExecutionProvider.Cpu, IntraOpThreads = 2 });
        using var fixedShape = Embedder.Load(TestPaths.Clip, Fixed(16, 2));
        var expected = dynamicShape.Embed(pixels, count);
        var actual = fixedShape.Embed(pixels, count);
        for (var i = 0; i < count; i++)
            Assert.InRange(VectorMath.Cosine(expected[i].Vector!, actual[i].Vector!), 1 - 1e-6, 1 + 1e-6);
    }

    [Fact]
    public void ASymbolicImageSize_CannotBeFixedByABatch_AndIsRefused()
    {
        var manifest = TestPaths.Clip with
        {
            Input = TestPaths.Clip.Input with
            {
                Shape = new object[] { "batch", 3, "height", 224 }.Select(d => System.Text.Json.JsonSerializer.SerializeToElement(d)).ToList(),
            },
        };
        var e = Assert.Throws<ModelManifestException>(() => Embedder.SymbolicInputDimensions(manifest));
        Assert.Contains("height", e.Message, StringComparison.Ordinal);
        Assert.Equal(["batch"], Embedder.SymbolicInputDimensions(TestPaths.Clip));
    }

    [Fact]
    public void CoreMLLoadsAKeyedCopy_TheVerifiedModelWithItsCacheKeyInTheMetadata()
    {
        var options = new EmbedderOptions { CoreMLCacheDirectory = Directory.CreateTempSubdirectory("ingestfleet-coremlkey-").FullName };
        var path = Embedder.CoreMLKeyedModel(TestPaths.Clip, options);
        Assert.Equal(Path.Combine(options.CoreMLCacheDirectory, TestPaths.Clip.Onnx.Sha256, Embedder.CoreMLKeyedModelFile), path);
        var key = Embedder.CoreMLCacheKey(TestPaths.Clip);
        Assert.True(key.Length <= 64 && key.All(char.IsAsciiLetterOrDigit), key); // what ORT accepts as a key

        // ORT itself reads the key back (the Core ML EP reads the same metadata), and the graph is the original's.
        _ = OrtRuntime.AvailableProviders; // ORT's environment (with the process's log capture) exists before any session
        using (var session = new Microsoft.ML.OnnxRuntime.InferenceSession(path))
            Assert.Equal(key, session.ModelMetadata.CustomMetadataMap["COREML_CACHE_KEY"]);
        ModelProto original, keyed;
        using (var f = File.OpenRead(TestPaths.Clip.OnnxPath)) original = ModelProto.Parser.ParseFrom(f);
        using (var f = File.OpenRead(path)) keyed = ModelProto.Parser.ParseFrom(f);
        Assert.Equal(original.Graph, keyed.Graph);
        Assert.Equal(key, Assert.Single(keyed.MetadataProps, p => p.Key == "COREML_CACHE_KEY").Value);

        var written = File.GetLastWriteTimeUtc(path);
        Assert.Equal(path, Embedder.CoreMLKeyedModel(TestPaths.Clip, options)); // kept, not rewritten
        Assert.Equal(written, File.GetLastWriteTimeUtc(path));
    }

    [Fact]
    public void AManifestThatMisnamesTheBatchAxis_IsRefused_NotLeftDynamic()
    {
        var misnamed = TestPaths.Clip with
        {
            Input = TestPaths.Clip.Input with
            {
                Shape = new object[] { "n", 3, 224, 224 }.Select(d => System.Text.Json.JsonSerializer.SerializeToElement(d)).ToList(),
            },
        };
        var e = Assert.Throws<ModelManifestException>(() => Embedder.Load(misnamed, Fixed(16, 0)));
        Assert.Contains("stays dynamic", e.Message, StringComparison.Ordinal);
    }
}
