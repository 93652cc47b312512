using System.Text.Json.Nodes;
using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Models;

namespace IngestFleet.Tests.Embedding;

public class ManifestTests
{
    [Fact]
    public void BundledManifests_LoadWithTheirContracts()
    {
        var clip = TestPaths.Clip;
        Assert.Equal(ModelFamily.Clip, clip.Family);
        Assert.Equal(512, clip.OutputDimension);
        Assert.Equal("center", clip.Preprocess.Crop);
        var siglip = TestPaths.SigLip;
        Assert.Equal(768, siglip.OutputDimension);
        Assert.Equal(ResizeMode.Squash, siglip.Preprocess.ResizeMode);
        Assert.NotEqual(clip.Preprocess.ContractHash(), siglip.Preprocess.ContractHash());
    }

    [Theory]
    [InlineData("family", "\"vit\"", "'family'")]
    [InlineData("output_dimension", "1024", "'output_dimension'")]
    [InlineData("preprocess.mean", "[0.5, 0.5]", "'preprocess.mean'")]
    [InlineData("onnx.sha256", "\"abc\"", "'onnx.sha256'")]
    [InlineData("golden.epsilon", "0", "'golden.epsilon'")]
    [InlineData("preprocess.resampler", "\"lanczos\"", "'preprocess.resampler'")]
    public void InvalidField_ErrorNamesTheFileAndTheField(string path, string json, string expectedField)
    {
        var dir = TestPaths.CopyModel("clip-tiny-r1");
        var file = Path.Combine(dir, "manifest.json");
        var root = JsonNode.Parse(File.ReadAllText(file))!;
        var parts = path.Split('.');
        var parent = parts.Length == 1 ? root : root[parts[0]]!;
        parent[parts[^1]] = JsonNode.Parse(json);
        File.WriteAllText(file, root.ToJsonString());

        var e = Assert.Throws<ModelManifestException>(() => ManifestLoader.Load(file));
        Assert.Contains(file, e.Message);
        Assert.Contains(expectedField, e.Message);
    }

    [Fact]
    public void UnknownField_IsRefusedNotIgnored()
    {
        var dir = TestPaths.CopyModel("clip-tiny-r1");
        var file = Path.Combine(dir, "manifest.json");
        var root = JsonNode.Parse(File.ReadAllText(file))!;
        root["l2_normalise"] = true; // a typo of l2_normalize must not silently keep the default
        File.WriteAllText(file, root.ToJsonString());
        var e = Assert.Throws<ModelManifestException>(() => ManifestLoader.Load(file));
        Assert.Contains("l2_normalise", e.Message);
    }

    [Fact]
    public void ChecksumMismatch_RefusesToLoad()
    {
        var dir = TestPaths.CopyModel("clip-tiny-r1");
        var onnx = Path.Combine(dir, "model.onnx");
        var bytes = File.ReadAllBytes(onnx);
        bytes[^10] ^= 0x01; // one bit in the last initializer
        File.WriteAllBytes(onnx, bytes);
        var manifest = ManifestLoader.Load(dir);
        var e = Assert.Throws<ModelManifestException>(() => Embedder.Load(manifest, new EmbedderOptions { ExecutionProvider = ExecutionProvider.Cpu }));
        Assert.Contains("'onnx.sha256'", e.Message);
        Assert.Contains(ManifestLoader.Sha256Of(onnx), e.Message);
    }
}
