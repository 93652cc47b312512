using System.Text.Json;

namespace IngestFleet.Tests.Cli;

public class ModelsAndEmbedCliTests
{
    [Fact]
    public void EmbedJson_PrintsOneObjectPerFile_AndExitsTwoWhenAnyIsRejected()
    {
        var ok = Path.Combine(TestPaths.Photos, "coffee.jpg");
        var bad = Path.Combine(TestPaths.Hostile, "html-error-page.jpg");
        var r = CliRunner.Run("embed", ok, bad, "--json", "--ep", "cpu");
        Assert.Equal(2, r.ExitCode);
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal(2, lines.Length);
        Assert.Equal(ok, lines[0].GetProperty("file").GetString());
        Assert.Equal("ok", lines[0].GetProperty("status").GetString());
        Assert.Equal(512, lines[0].GetProperty("dim").GetInt32());
        Assert.Equal(512, lines[0].GetProperty("embedding").GetArrayLength());
        Assert.InRange(lines[0].GetProperty("norm").GetDouble(), 0.9999, 1.0001);
        Assert.True(lines[0].GetProperty("ms").GetDouble() > 0);
        Assert.Equal("rejected", lines[1].GetProperty("status").GetString());
        Assert.Equal("not_an_image", lines[1].GetProperty("reason").GetString());
        Assert.False(lines[1].TryGetProperty("embedding", out _));
    }

    [Fact]
    public void EmbedAllGood_ExitsZero_WithSigLipWhenAsked()
    {
        var r = CliRunner.Run("embed", Path.Combine(TestPaths.Photos, "rocket.jpg"), "--model", "siglip-tiny-r1", "--json");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(768, JsonDocument.Parse(r.Stdout).RootElement.GetProperty("dim").GetInt32());
    }

    [Fact]
    public void BadManifest_IsAClearErrorWithItsOwnExitCode()
    {
        var dir = TestPaths.CopyModel("clip-tiny-r1");
        File.WriteAllText(Path.Combine(dir, "manifest.json"), "{ \"family\": ");
        var r = CliRunner.Run("embed", Path.Combine(TestPaths.Photos, "rocket.jpg"), "--model", dir);
        Assert.Equal(3, r.ExitCode);
        Assert.Contains("manifest.json", r.Stderr);
        Assert.Contains("invalid manifest JSON", r.Stderr);
    }

    [Fact]
    public void VerifyWithoutArguments_ChecksEveryBundledManifest()
    {
        var r = CliRunner.Run("models", "verify", "--ep", "cpu");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("clip-tiny-r1", r.Stdout);
        Assert.Contains("siglip-tiny-r1", r.Stdout);
        Assert.Equal(4, r.Stdout.Split("pass").Length - 1); // each revision's image and text towers
        Assert.Contains("clip-tiny-r1 (text)", r.Stdout);
    }

    [Fact]
    public void EmbedText_PrintsAUnitVectorOfTheRevisionsDimension_PerText()
    {
        var r = CliRunner.Run("embed", "--model", "siglip-tiny-r1", "--json", "--text", "a red leather handbag", "--text", "Blue Denim JACKET 👖");
        Assert.Equal(0, r.ExitCode);
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(2, lines.Count);
        Assert.All(lines, l =>
        {
            Assert.Equal(768, l.GetProperty("dim").GetInt32());
            Assert.Equal(768, l.GetProperty("embedding").GetArrayLength());
            Assert.Equal(1.0, l.GetProperty("norm").GetDouble(), 5);
            Assert.Equal("siglip-tiny-r1", l.GetProperty("model").GetString());
        });
        Assert.Equal("Blue Denim JACKET 👖", lines[1].GetProperty("text").GetString());
    }

    /// <summary>A text tower without its golden pack does not serve; `models text-golden` records it (for the bundled
    /// revision, byte for byte the committed one) and then it serves.</summary>
    [Fact]
    public void TextGolden_RecordsThePack_ThatATextTowerNeedsToServe()
    {
        var dir = TestPaths.CopyModel("siglip-tiny-r1");
        File.Delete(Path.Combine(dir, "text-golden.json"));
        var refused = CliRunner.Run("embed", "--model", dir, "--text", "a chair");
        Assert.Equal(3, refused.ExitCode);
        Assert.Contains("models text-golden", refused.Stderr);
        var written = CliRunner.Run("models", "text-golden", dir);
        Assert.True(written.ExitCode == 0, written.Stdout + written.Stderr);
        // The same texts and ids as the committed pack; outputs within the tower's epsilon (they depend on the CPU's kernels).
        var committed = IngestFleet.Embedding.Text.TextGoldenPack.Read(Path.Combine(TestPaths.Models, "siglip-tiny-r1", "text-golden.json"));
        var recorded = IngestFleet.Embedding.Text.TextGoldenPack.Read(Path.Combine(dir, "text-golden.json"));
        Assert.Equal(committed.Texts, recorded.Texts);
        Assert.Equal(committed.TokenIds, recorded.TokenIds);
        for (var i = 0; i < committed.Embeddings.Count; i++)
            Assert.True(1 - IngestFleet.Embedding.Inference.VectorMath.Cosine(committed.Embeddings[i], recorded.Embeddings[i]) < 1e-4);
        Assert.Equal(0, CliRunner.Run("embed", "--model", dir, "--text", "a chair").ExitCode);
    }

    [Fact]
    public void EmbedWithNeitherFilesNorText_IsAUsageError()
    {
        var r = CliRunner.Run("embed");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("--text", r.Stderr);
    }

    [Fact]
    public void VerifyWithAPerturbedPack_ExitsFour()
    {
        var dir = TestPaths.CopyModel("siglip-tiny-r1");
        var pack = IngestFleet.Embedding.Models.GoldenPack.Read(Path.Combine(dir, "golden.bin"));
        Array.Reverse(pack.Outputs, 0, pack.OutputDim);
        pack.Write(Path.Combine(dir, "golden.bin"));
        var r = CliRunner.Run("models", "verify", dir);
        Assert.Equal(4, r.ExitCode);
        Assert.Contains("siglip-tiny-r1 on EP cpu", r.Stderr);
    }

    [NotOnMacFact]
    public void InspectOnCoreML_OnLinux_ExitsFiveWithTheReason()
    {
        var r = CliRunner.Run("models", "inspect", "clip-tiny-r1", "--ep", "coreml");
        Assert.Equal(5, r.ExitCode);
        Assert.Contains("'coreml' is not available here", r.Stderr);
    }

    [Fact]
    public void Inspect_PrintsThePlacementReport()
    {
        var r = CliRunner.Run("models", "inspect", "siglip-tiny-r1", "--ep", "cpu");
        Assert.Equal(0, r.ExitCode);
        Assert.Matches(@"CPUExecutionProvider\s+\d+ nodes", r.Stdout);
        Assert.Contains("fallback nodes: 0", r.Stdout);
    }
}
