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

    /// <summary>Directory the manifest was loaded from; relative file names resolve against it.</summary>
    [JsonIgnore] public string Directory { get; init; } = "";
    [JsonIgnore] public string ManifestPath { get; init; } = "";
    [JsonIgnore] public string OnnxPath => Path.Combine(Directory, Onnx.File);
    [JsonIgnore] public string GoldenPath => Path.Combine(Directory, Golden.File);
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
    public string File { get; init; } = "";
    /// <summary>Largest accepted cosine distance (1 − cos) between a golden output and a fresh one.</summary>
    public double Epsilon { get; init; }
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
    };
}
