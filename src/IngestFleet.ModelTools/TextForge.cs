using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Protobuf;
using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Models;
using IngestFleet.Embedding.Text;
using Onnx;
using static IngestFleet.ModelTools.OnnxGraphBuilder;

namespace IngestFleet.ModelTools;

/// <summary>
/// Writes a revision's text tower next to its image tower: a generated vocabulary in the files a real export ships
/// (CLIP: <c>vocab.json</c>, <c>merges.txt</c> and the Hugging Face <c>tokenizer.json</c>; SigLIP: a SentencePiece
/// unigram <c>spiece.model</c>), the text graph with seeded weights and a text golden pack.
/// CLIP text tower: token + position embeddings, pre-LN blocks with a causal mask and QuickGELU, final LN, the hidden
/// state at the first end-of-text token, projection (no bias) to the image dimension. SigLIP: the same embeddings,
/// unmasked blocks with tanh-GELU, final LN, the last position (texts are padded to the cap), a head with bias.
/// </summary>
public static class TextForge
{
    public const string InputName = "input_ids";
    public const string OutputName = "text_embeds";
    public const string ClipStart = "<|startoftext|>";
    public const string ClipEnd = "<|endoftext|>";
    public const string SigLipEnd = "</s>";
    public const string SigLipPad = "<pad>";
    public const string SigLipUnknown = "<unk>";
    public const int ClipCap = 77;
    public const int SigLipCap = 64;
    private static readonly string[] ClipFiles = ["vocab.json", "merges.txt", "tokenizer.json"];

    /// <summary>Golden texts: plain, mixed case and punctuation, accents, an emoji, one past the cap.</summary>
    public static readonly string[] GoldenTexts =
    [
        "a red leather handbag",
        "Blue Denim JACKET, size M — 100% cotton!",
        "café crème mug ☕ with gold rim",
        string.Join(' ', Enumerable.Repeat("wooden dining chair", 30)),
    ];

    public static TextTowerSpec Forge(ForgeOptions o, string directory)
    {
        var clip = o.Family == ModelFamily.Clip;
        var rng = new SeededRandom(o.Seed ^ 0x7E47UL);
        List<TokenizerFile> files;
        int vocabSize, endId;
        if (clip)
        {
            var (vocab, merges) = ClipVocabulary.Build(rng);
            File.WriteAllText(Path.Combine(directory, "vocab.json"), JsonSerializer.Serialize(vocab, VocabJson) + "\n");
            File.WriteAllText(Path.Combine(directory, "merges.txt"), "#version: 0.2\n" + string.Join("\n", merges) + "\n");
            File.WriteAllText(Path.Combine(directory, "tokenizer.json"), ClipVocabulary.HuggingFaceJson(vocab, merges).ToJsonString(VocabJson) + "\n");
            files = [.. ClipFiles.Select(f => FileEntry(directory, f))];
            vocabSize = vocab.Count;
            endId = vocab[ClipEnd];
        }
        else
        {
            var pieces = SentencePieceVocabulary.Build(rng);
            File.WriteAllBytes(Path.Combine(directory, "spiece.model"), SentencePieceVocabulary.ModelProto(pieces));
            files = [FileEntry(directory, "spiece.model")];
            vocabSize = pieces.Count;
            endId = 1;
        }
        using (var file = File.Create(Path.Combine(directory, "text.onnx")))
            Build(o, vocabSize, endId, clip ? ClipCap : SigLipCap, rng).WriteTo(file);
        return new TextTowerSpec
        {
            Onnx = new OnnxFileSpec { File = "text.onnx", Sha256 = ManifestLoader.Sha256Of(Path.Combine(directory, "text.onnx")) },
            Input = new TensorSpec { Name = InputName, Shape = [JsonSerializer.SerializeToElement("batch"), JsonSerializer.SerializeToElement("sequence")], Dtype = "int64" },
            Output = new TensorSpec { Name = OutputName, Shape = [JsonSerializer.SerializeToElement("batch"), JsonSerializer.SerializeToElement(o.OutputDim)] },
            Tokenizer = new TokenizerSpec
            {
                Kind = clip ? "clip_bpe" : "sentencepiece",
                Files = files,
                Lowercase = true,
                StripPunctuation = !clip,
                StartToken = clip ? ClipStart : null,
                EndToken = clip ? ClipEnd : SigLipEnd,
                PadToken = clip ? ClipEnd : SigLipEnd, // Hugging Face's SiglipTokenizer pads with </s>
            },
            TokenCap = clip ? ClipCap : SigLipCap,
            Padding = clip ? "longest" : "max_length",
            Truncation = "end",
            DynamicAxes = new() { [InputName] = [0, 1], [OutputName] = [0] },
            Heads = "separate",
            Golden = new GoldenSpec { File = "text-golden.json", Epsilon = 1e-4 },
        };
    }

    /// <summary>Records the text golden pack of a manifest whose text tower was just forged.</summary>
    public static void WriteGoldenPack(ModelManifest manifest)
    {
        using var text = TextEmbedder.Load(manifest, intraOpThreads: 1, verifyGoldenPack: false);
        new TextGoldenPack
        {
            Texts = GoldenTexts,
            TokenIds = GoldenTexts.Select(t => text.Tokenizer.Encode(t)).ToList(),
            Embeddings = text.RunRaw(GoldenTexts),
            OrtVersion = OrtRuntime.Version,
            Revision = manifest.Revision,
        }.Write(manifest.PathOf(manifest.Text!.Golden.File));
    }

    private static TokenizerFile FileEntry(string directory, string file) =>
        new() { File = file, Sha256 = ManifestLoader.Sha256Of(Path.Combine(directory, file)) };

    private static readonly JsonSerializerOptions VocabJson = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static ModelProto Build(ForgeOptions o, int vocabSize, int endId, int cap, SeededRandom rng)
    {
        var clip = o.Family == ModelFamily.Clip;
        var g = new OnnxGraphBuilder(o.EffectiveRevision + "-text");
        var w = o.Width;

        // [N, S] ids → [N, S, w] token embeddings + the first S position embeddings.
        var tokens = g.Op("Gather", [g.Weight("text.token_embedding", rng.Normal(vocabSize * w, 0.02), vocabSize, w), InputName], Int("axis", 0));
        var sequence = g.Op("Slice", [g.Op("Shape", [InputName]), g.Int64s("text.slice.start", 1), g.Int64s("text.slice.end", 2)]);
        var positions = g.Op("Slice", [g.Weight("text.position_embedding", rng.Normal(cap * w, 0.01), cap, w), g.Int64s("text.zero", 0), sequence, g.Int64s("text.axis0", 0)]);
        var x = g.Add(tokens, positions);
        if (o.TextAttentionMask)
        {
            var tokenMask = g.Op("Cast", [TextEmbedder.AttentionMaskInput], Int("to", 1));
            x = g.Mul(x, g.Op("Unsqueeze", [tokenMask, g.Int64s("text.axis2", 2)]));
        }

        var t = new TransformerLayers(g, rng, w, o.Heads, o.MlpRatio, quickGelu: clip, prefix: "text.");
        string? mask = null;
        if (clip)
        {
            // Causal mask [S, S]: 0 on and below the diagonal, -1e9 above (a token sees only those before it).
            var ones = g.Op("Expand", [g.Scalar("text.one", 1f), g.Op("Concat", [sequence, sequence], Int("axis", 0))]);
            var lower = g.Op("Trilu", [ones], Int("upper", 0));
            mask = g.Mul(g.Op("Sub", [lower, "text.one"]), g.Scalar("text.mask_scale", 1e9f));
        }
        x = t.Blocks(x, o.Layers, "text.", mask);
        x = t.Ln("text.final_ln", x);

        string pooled;
        if (clip)
        {
            // The hidden state at each row's first end-of-text token.
            var isEnd = g.Op("Cast", [g.Op("Equal", [InputName, g.Int64s("text.end_id", endId)])], Int("to", 1));
            var at = g.Op("ArgMax", [isEnd], Int("axis", 1), Int("keepdims", 1));
            pooled = g.Op("GatherND", [x, at], Int("batch_dims", 1));
            pooled = g.MatMul(pooled, t.Lin("text.projection", w, o.OutputDim));
        }
        else
        {
            var last = g.Op("Gather", [x, g.Int64s("text.last", -1)], Int("axis", 1));
            pooled = g.Reshape(last, g.Int64s("text.shape.pooled", 0, w));
            pooled = g.Linear(pooled, t.Lin("text.head.weight", w, o.OutputDim), t.Bias("text.head.bias", o.OutputDim));
        }
        g.Rename(pooled, OutputName);
        g.Graph.Input.Add(Int64TensorInfo(InputName, "batch", "sequence"));
        if (o.TextAttentionMask) g.Graph.Input.Add(Int64TensorInfo(TextEmbedder.AttentionMaskInput, "batch", "sequence"));
        g.Graph.Output.Add(TensorInfo(OutputName, "batch", o.OutputDim));
        return g.ToModel(ModelForge.Opset, $"Random-weight {o.Family} text tower (seed {o.Seed}); a stand-in, not a trained model.");
    }
}
