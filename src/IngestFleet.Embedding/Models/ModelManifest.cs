using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace IngestFleet.Embedding.Models;

/// <summary>
/// One model revision: exact weights (file + SHA-256), a frozen preprocessing contract and an output contract.
/// Serialized as <c>manifest.json</c> (snake_case) next to the ONNX file; see README "Model manifests".
/// </summary>
public sealed record ModelManifest
{
    public const string SchemaId = "ingestfleet.model-manifest/v1";

    public string Schema { get; init; } = SchemaId;
    public ModelFamily Family { get; init; }
    public string Revision { get; init; } = "";
    public OnnxFileSpec Onnx { get; init; } = new();
    public TensorSpec Input { get; init; } = new();
    public TensorSpec Output { get; init; } = new();
    public int OutputDimension { get; init; }
    public PreprocessContract Preprocess { get; init; } = new();
    public bool L2Normalize { get; init; } = true;
    public Provenance Provenance { get; init; } = new();
    public GoldenSpec Golden { get; init; } = new();
    /// <summary>Nodes known to fall back to the CPU EP on some EP, each with the reason; any other fallback is
    /// "unexplained" (reported in the batch span, the worker's health, the node doctor and the soak report).</summary>
    public IReadOnlyList<ExpectedFallback> ExpectedFallbacks { get; init; } = [];

    /// <summary>The default <see cref="MinEpNodeShare"/>: ORT keeps shape arithmetic on the CPU EP on purpose, so an
    /// accelerator rarely holds every node; below this share most of the work runs on the CPU.</summary>
    public const double DefaultMinEpNodeShare = 0.8;

    /// <summary>The least share of the graph's nodes a requested accelerator EP (Core ML, CUDA) must hold, or the
    /// node doctor fails, readiness is unhealthy and <c>accept</c> fails (the node would bill accelerator hours while
    /// computing on the CPU).</summary>
    public double MinEpNodeShare { get; init; } = DefaultMinEpNodeShare;

    /// <summary>The revision's text tower, which embeds queries into the same space as its images (null for an
    /// image-only export): its ONNX file, tokenizer files and the text contract (token cap, padding, truncation).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public TextTowerSpec? Text { get; init; }

    /// <summary>Directory the manifest was loaded from; relative file names resolve against it.</summary>
    [JsonIgnore] public string Directory { get; init; } = "";
    [JsonIgnore] public string ManifestPath { get; init; } = "";
    [JsonIgnore] public string OnnxPath => Path.Combine(Directory, Onnx.File);
    [JsonIgnore] public string GoldenPath => Path.Combine(Directory, Golden.File);
    /// <summary>A file the manifest names, resolved against its directory.</summary>
    public string PathOf(string file) => Path.Combine(Directory, file);
}

/// <summary>The architecture family, which fixes the preprocessing defaults; <c>clip</c> or <c>siglip</c> in manifests.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ModelFamily>))]
public enum ModelFamily
{
    [JsonStringEnumMemberName("clip")] Clip,
    [JsonStringEnumMemberName("siglip")] SigLip,
}

/// <summary>How an image is brought to size × size: <c>shortest_edge</c> (keep the aspect, resize the shortest edge,
/// then crop) or <c>squash</c> (stretch the whole image).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ResizeMode>))]
public enum ResizeMode
{
    [JsonStringEnumMemberName("shortest_edge")] ShortestEdge,
    [JsonStringEnumMemberName("squash")] Squash,
}

public static class ResizeModes
{
    /// <summary>The manifest's spelling: <c>shortest_edge</c> or <c>squash</c>.</summary>
    public static string Name(this ResizeMode mode) => mode == ResizeMode.Squash ? "squash" : "shortest_edge";
}

public sealed record OnnxFileSpec
{
    public string File { get; init; } = "";
    public string Sha256 { get; init; } = "";
}

public sealed record TensorSpec
{
    public string Name { get; init; } = "";
    /// <summary>Dimensions; a string (for example "batch") marks a dynamic axis, a number a fixed one.</summary>
    public IReadOnlyList<JsonElement> Shape { get; init; } = [];
    public string Dtype { get; init; } = "float32";
}

/// <summary>The frozen preprocessing contract. Changing any field means a new model revision.</summary>
public sealed record PreprocessContract
{
    public int Size { get; init; }
    /// <summary><c>shortest_edge</c> (keep aspect, then crop) or <c>squash</c> (stretch to size × size).</summary>
    public ResizeMode ResizeMode { get; init; }
    /// <summary><c>bicubic</c> or <c>bilinear</c>.</summary>
    public string Resampler { get; init; } = "";
    /// <summary><c>center</c> or <c>none</c>.</summary>
    public string Crop { get; init; } = "";
    public double RescaleFactor { get; init; } = 1.0 / 255.0;
    public double[] Mean { get; init; } = [];
    public double[] Std { get; init; } = [];
    public string ChannelOrder { get; init; } = "rgb";
    public string Layout { get; init; } = "nchw";
    /// <summary>Background that alpha is flattened onto, as #RRGGBB.</summary>
    public string AlphaBackground { get; init; } = "#FFFFFF";

    /// <summary>Stable hash of the contract, written next to every vector so readers can tell contracts apart.</summary>
    /// <param name="jpegDecoder">The JPEG decode path the worker uses: <c>imagesharp</c> (or null) keeps the manifest's
    /// hash as it always was; any other path is folded into the hash, so vectors from different decode paths never
    /// share one.</param>
    public string ContractHash(string? jpegDecoder = null)
    {
        var json = JsonSerializer.Serialize(this, ManifestJson.Options);
        if (jpegDecoder is { Length: > 0 } d && d != "imagesharp") json += "\njpeg_decoder=" + d;
        return Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(json)))[..16];
    }
}

public sealed record Provenance
{
    public string Exporter { get; init; } = "";
    public int Opset { get; init; }
    public Dictionary<string, int[]> DynamicAxes { get; init; } = [];
    public string? Notes { get; init; }
    public Dictionary<string, JsonElement>? Architecture { get; init; }
}

public sealed record GoldenSpec
{
    /// <summary>
    /// The tolerance an FP16 EP gets unless the manifest says otherwise: Core ML (the Neural Engine and Core ML's GPU
    /// path compute in half precision), where the FP32 <see cref="Epsilon"/> (1e-4 for the bundled towers) would refuse
    /// a healthy node. Measured with `ingestfleet models fp16-check` (every weight and every activation rounded to FP16,
    /// golden pack on the CPU EP, 2026-12-06): 4.7e-7 (clip-tiny-r1), 5.4e-7 (siglip-tiny-r1), 1.0e-6 and 4.8e-7 for
    /// ViT-B/32- and ViT-B/16-size CLIP and SigLIP towers. That simulation rounds between operators but accumulates
    /// inside each MatMul, Softmax and LayerNorm in FP32, which the Neural Engine does not; the largest distance known
    /// from a real Neural Engine run is about 4e-4 (a SigLIP tower, issue #19). The default is 1e-3: 2.5× that, ~1,000×
    /// the simulation. A first Mac run must compare its golden distance with it (README, "What only a Mac can confirm").
    /// </summary>
    public const double DefaultFp16Epsilon = 1e-3;

    public string File { get; init; } = "";
    /// <summary>Largest accepted cosine distance (1 − cos) between a golden output and a fresh one, on the CPU and CUDA
    /// EPs (FP32).</summary>
    public double Epsilon { get; init; }

    /// <summary>Per-EP tolerances (keys <c>cpu</c>, <c>cuda</c>, <c>coreml</c>) that override <see cref="Epsilon"/> and
    /// <see cref="DefaultFp16Epsilon"/>, for an export whose FP16 error was measured larger or smaller.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Dictionary<string, double>? EpsilonByEp { get; init; }

    /// <summary>The tolerance on an EP (its manifest name: cpu, cuda, coreml).</summary>
    public double EpsilonFor(string ep) =>
        EpsilonByEp is not null && EpsilonByEp.TryGetValue(ep, out var e) ? e : ep == "coreml" ? Math.Max(Epsilon, DefaultFp16Epsilon) : Epsilon;
}

/// <summary>
/// The text half of a revision (manifest section <c>text</c>). The text contract is everything that decides which ids a
/// string becomes: the tokenizer files (by SHA-256), the token cap, the truncation and padding rules. Changing any of
/// it means a new revision, as for <see cref="PreprocessContract"/>.
/// </summary>
public sealed record TextTowerSpec
{
    public OnnxFileSpec Onnx { get; init; } = new();
    /// <summary>Token ids, int64, <c>["batch", "sequence"]</c>.</summary>
    public TensorSpec Input { get; init; } = new();
    /// <summary>Text embeddings, float32, <c>["batch", dim]</c> with dim the image tower's output dimension.</summary>
    public TensorSpec Output { get; init; } = new();
    public TokenizerSpec Tokenizer { get; init; } = new();
    /// <summary>Most tokens one text becomes, start and end tokens included: 77 for CLIP, 64 for SigLIP.</summary>
    public int TokenCap { get; init; }
    /// <summary><c>longest</c> (a batch is padded to its longest text: CLIP, whose causal mask and end-token pooling
    /// make padding irrelevant) or <c>max_length</c> (every text padded to the cap: SigLIP, trained that way and pooled
    /// at the last position).</summary>
    public string Padding { get; init; } = "longest";
    /// <summary><c>end</c>: a text past the cap keeps its first tokens; the end token is always the last one kept.</summary>
    public string Truncation { get; init; } = "end";
    /// <summary>Dynamic axes of the text graph's input and output, by tensor name (as in the exporter's call).</summary>
    public Dictionary<string, int[]> DynamicAxes { get; init; } = [];
    /// <summary><c>separate</c> (the text tower is its own graph, as forged and as most exports ship) or <c>joint</c>
    /// (one graph holds both towers; recorded for provenance, not served: export the towers separately).</summary>
    public string Heads { get; init; } = "separate";
    public GoldenSpec Golden { get; init; } = new();

    /// <summary>The contract as one hash: tokenizer kind, rules and file hashes, cap, padding and truncation. Two nodes
    /// whose hashes differ turn a query into different ids.</summary>
    public string ContractHash()
    {
        var json = JsonSerializer.Serialize(new { Tokenizer, TokenCap, Padding, Truncation }, ManifestJson.Options);
        return Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(json)))[..16];
    }
}

/// <summary>Which tokenizer a text tower uses and the files it loads, each with its SHA-256.</summary>
public sealed record TokenizerSpec
{
    /// <summary><c>clip_bpe</c> (byte-level BPE with the <c>&lt;/w&gt;</c> end-of-word suffix, lower-cased; files
    /// <c>vocab.json</c> + <c>merges.txt</c>, or <c>tokenizer.json</c>) or <c>sentencepiece</c> (<c>spiece.model</c>).</summary>
    public string Kind { get; init; } = "";
    public IReadOnlyList<TokenizerFile> Files { get; init; } = [];
    /// <summary>Lower-case the text before tokenizing (CLIP: always; SigLIP: as its export says).</summary>
    public bool Lowercase { get; init; }
    /// <summary>SigLIP's canonicalisation: punctuation removed, runs of whitespace collapsed, ends trimmed.</summary>
    public bool StripPunctuation { get; init; }
    /// <summary>Token put first (CLIP <c>&lt;|startoftext|&gt;</c>); null when none.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? StartToken { get; init; }
    /// <summary>Token put last (CLIP <c>&lt;|endoftext|&gt;</c>, SigLIP <c>&lt;/s&gt;</c>).</summary>
    public string EndToken { get; init; } = "";
    /// <summary>Token a padded position holds.</summary>
    public string PadToken { get; init; } = "";
}

public sealed record TokenizerFile
{
    public string File { get; init; } = "";
    public string Sha256 { get; init; } = "";
}

public static class ManifestJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        WriteIndented = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        // Token names such as <|endoftext|> stay readable (no \u003C escapes); nothing here is embedded in HTML.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}
