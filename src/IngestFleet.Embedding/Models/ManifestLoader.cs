using System.Security.Cryptography;
using System.Text.Json;

namespace IngestFleet.Embedding.Models;

/// <summary>A manifest or model file that cannot be used. The message names the file and the field.</summary>
public sealed class ModelManifestException(string message, Exception? inner = null) : Exception(message, inner);

public static class ManifestLoader
{
    private static readonly string[] Resamplers = ["bicubic", "bilinear"];
    private static readonly string[] Crops = ["center", "none"];
    private static readonly int[] Dimensions = [512, 768];

    /// <summary>Reads and validates a manifest. Does not hash the ONNX file (see <see cref="VerifyChecksum"/>).</summary>
    public static ModelManifest Load(string manifestPath)
    {
        var full = Path.GetFullPath(manifestPath);
        if (System.IO.Directory.Exists(full))
            full = Path.Combine(full, "manifest.json");
        if (!File.Exists(full))
            throw new ModelManifestException($"{manifestPath}: manifest not found. Pass the path of a manifest.json (see models/).");
        ModelManifest? m;
        try
        {
            m = JsonSerializer.Deserialize<ModelManifest>(File.ReadAllText(full), ManifestJson.Options);
        }
        catch (JsonException e)
        {
            var where = e.Path is null ? "" : $" at '{e.Path.TrimStart('$', '.')}'";
            throw new ModelManifestException($"{full}: invalid manifest JSON{where}: {e.Message}", e);
        }
        if (m is null)
            throw new ModelManifestException($"{full}: manifest is empty.");
        m = m with { Directory = Path.GetDirectoryName(full)!, ManifestPath = full };
        Validate(m);
        return m;
    }

    public static void Validate(ModelManifest m)
    {
        var f = m.ManifestPath;
        void Fail(string field, string problem) => throw new ModelManifestException($"{f}: field '{field}' {problem}");

        if (m.Schema != ModelManifest.SchemaId) Fail("schema", $"must be \"{ModelManifest.SchemaId}\", found \"{m.Schema}\".");
        if (!Enum.IsDefined(m.Family)) Fail("family", "must be clip or siglip.");
        if (string.IsNullOrWhiteSpace(m.Revision) || m.Revision.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
            Fail("revision", "must be a non-empty tag of letters, digits, '-', '_' or '.' (it becomes part of storage keys).");
        if (string.IsNullOrWhiteSpace(m.Onnx.File)) Fail("onnx.file", "is required.");
        if (m.Onnx.Sha256.Length != 64 || !m.Onnx.Sha256.All(char.IsAsciiHexDigit)) Fail("onnx.sha256", "must be 64 hex digits.");
        if (!File.Exists(m.OnnxPath)) Fail("onnx.file", $"points at {m.OnnxPath}, which does not exist.");
        if (string.IsNullOrWhiteSpace(m.Input.Name)) Fail("input.name", "is required.");
        if (m.Input.Dtype != "float32") Fail("input.dtype", "must be float32.");
        if (m.Input.Shape.Count != 4) Fail("input.shape", "must have 4 dimensions (batch, 3, size, size).");
        if (string.IsNullOrWhiteSpace(m.Output.Name)) Fail("output.name", "is required.");
        if (m.Output.Dtype != "float32") Fail("output.dtype", "must be float32.");
        if (m.Output.Shape.Count != 2) Fail("output.shape", "must have 2 dimensions (batch, dim).");
        if (!Dimensions.Contains(m.OutputDimension)) Fail("output_dimension", $"must be 512 or 768, found {m.OutputDimension}.");
        if (m.Output.Shape[1].ValueKind == JsonValueKind.Number && m.Output.Shape[1].GetInt32() != m.OutputDimension)
            Fail("output.shape", $"second dimension {m.Output.Shape[1]} differs from output_dimension {m.OutputDimension}.");
        var p = m.Preprocess;
        if (p.Size is < 16 or > 1024) Fail("preprocess.size", "must be between 16 and 1024.");
        if (m.Input.Shape[2].ValueKind == JsonValueKind.Number && m.Input.Shape[2].GetInt32() != p.Size)
            Fail("input.shape", $"height {m.Input.Shape[2]} differs from preprocess.size {p.Size}.");
        if (!Enum.IsDefined(p.ResizeMode)) Fail("preprocess.resize_mode", "must be shortest_edge or squash.");
        if (!Resamplers.Contains(p.Resampler)) Fail("preprocess.resampler", $"must be one of {string.Join(", ", Resamplers)}.");
        if (!Crops.Contains(p.Crop)) Fail("preprocess.crop", $"must be one of {string.Join(", ", Crops)}.");
        if (p.ResizeMode == ResizeMode.Squash && p.Crop != "none") Fail("preprocess.crop", "must be \"none\" when resize_mode is squash.");
        if (p.Mean.Length != 3) Fail("preprocess.mean", "must have 3 numbers (R, G, B).");
        if (p.Std.Length != 3 || p.Std.Any(s => s <= 0)) Fail("preprocess.std", "must have 3 positive numbers (R, G, B).");
        if (p.RescaleFactor <= 0) Fail("preprocess.rescale_factor", "must be positive (usually 1/255).");
        if (p.ChannelOrder is not ("rgb" or "bgr")) Fail("preprocess.channel_order", "must be rgb or bgr.");
        if (p.Layout != "nchw") Fail("preprocess.layout", "must be nchw.");
        if (p.AlphaBackground.Length != 7 || p.AlphaBackground[0] != '#' || !p.AlphaBackground[1..].All(char.IsAsciiHexDigit))
            Fail("preprocess.alpha_background", "must be a colour like #FFFFFF.");
        if (string.IsNullOrWhiteSpace(m.Provenance.Exporter)) Fail("provenance.exporter", "is required (what produced the ONNX file).");
        if (m.Provenance.Opset is < 7 or > 30) Fail("provenance.opset", "must be the ONNX opset the file was exported with.");
        if (string.IsNullOrWhiteSpace(m.Golden.File)) Fail("golden.file", "is required: every revision ships a golden pack.");
        if (!File.Exists(m.GoldenPath)) Fail("golden.file", $"points at {m.GoldenPath}, which does not exist.");
        if (m.Golden.Epsilon is <= 0 or > 0.5) Fail("golden.epsilon", "must be a cosine distance in (0, 0.5].");
        foreach (var (ep, e) in m.Golden.EpsilonByEp ?? [])
        {
            if (ep is not ("cpu" or "cuda" or "coreml")) Fail($"golden.epsilon_by_ep.{ep}", "must name an EP: cpu, cuda or coreml.");
            if (e is <= 0 or > 0.5) Fail($"golden.epsilon_by_ep.{ep}", "must be a cosine distance in (0, 0.5].");
        }
        if (m.Text is { } text) ValidateText(m, text, Fail);
        if (m.MinEpNodeShare is < 0 or > 1) Fail("min_ep_node_share", "must be a share of the graph's nodes in [0, 1].");
        for (var i = 0; i < m.ExpectedFallbacks.Count; i++)
        {
            var e = m.ExpectedFallbacks[i];
            if (string.IsNullOrWhiteSpace(e.Node) && string.IsNullOrWhiteSpace(e.OpType)) Fail($"expected_fallbacks[{i}]", "needs a node (name or pattern with *) or an op_type.");
            if (string.IsNullOrWhiteSpace(e.Reason)) Fail($"expected_fallbacks[{i}].reason", "is required: say why the fallback is acceptable.");
        }
    }

    private static readonly string[] TokenizerKinds = ["clip_bpe", "sentencepiece"];

    private static void ValidateText(ModelManifest m, TextTowerSpec t, Action<string, string> fail)
    {
        if (string.IsNullOrWhiteSpace(t.Onnx.File)) fail("text.onnx.file", "is required.");
        if (t.Onnx.Sha256.Length != 64 || !t.Onnx.Sha256.All(char.IsAsciiHexDigit)) fail("text.onnx.sha256", "must be 64 hex digits.");
        if (!File.Exists(m.PathOf(t.Onnx.File))) fail("text.onnx.file", $"points at {m.PathOf(t.Onnx.File)}, which does not exist.");
        if (string.IsNullOrWhiteSpace(t.Input.Name)) fail("text.input.name", "is required.");
        if (t.Input.Dtype != "int64") fail("text.input.dtype", "must be int64 (token ids).");
        if (t.Input.Shape.Count != 2) fail("text.input.shape", "must have 2 dimensions (batch, sequence).");
        if (string.IsNullOrWhiteSpace(t.Output.Name)) fail("text.output.name", "is required.");
        if (t.Output.Dtype != "float32") fail("text.output.dtype", "must be float32.");
        if (t.Output.Shape.Count != 2) fail("text.output.shape", "must have 2 dimensions (batch, dim).");
        if (t.Output.Shape.Count == 2 && t.Output.Shape[1].ValueKind == JsonValueKind.Number && t.Output.Shape[1].GetInt32() != m.OutputDimension)
            fail("text.output.shape", $"second dimension {t.Output.Shape[1]} differs from output_dimension {m.OutputDimension}: text and image vectors must share one space.");
        if (!TokenizerKinds.Contains(t.Tokenizer.Kind)) fail("text.tokenizer.kind", $"must be one of {string.Join(", ", TokenizerKinds)}.");
        if (t.Tokenizer.Files.Count == 0) fail("text.tokenizer.files", "must list the tokenizer's files.");
        foreach (var (f, i) in t.Tokenizer.Files.Select((f, i) => (f, i)))
        {
            if (string.IsNullOrWhiteSpace(f.File) || !File.Exists(m.PathOf(f.File))) fail($"text.tokenizer.files[{i}].file", $"points at {m.PathOf(f.File)}, which does not exist.");
            if (f.Sha256.Length != 64 || !f.Sha256.All(char.IsAsciiHexDigit)) fail($"text.tokenizer.files[{i}].sha256", "must be 64 hex digits.");
        }
        if (string.IsNullOrEmpty(t.Tokenizer.EndToken)) fail("text.tokenizer.end_token", "is required.");
        if (string.IsNullOrEmpty(t.Tokenizer.PadToken)) fail("text.tokenizer.pad_token", "is required.");
        if (t.TokenCap is < 2 or > 1024) fail("text.token_cap", "must be between 2 and 1024.");
        if (t.Padding is not ("longest" or "max_length")) fail("text.padding", "must be longest or max_length.");
        if (t.Truncation != "end") fail("text.truncation", "must be end (keep the first tokens, then the end token).");
        if (t.Heads is not ("separate" or "joint")) fail("text.heads", "must be separate or joint.");
        // Required; its existence is checked when the text tower loads (`ingestfleet models text-golden` writes it for an export).
        if (string.IsNullOrWhiteSpace(t.Golden.File)) fail("text.golden.file", "is required: every text tower ships a golden pack.");
        if (t.Golden.Epsilon is <= 0 or > 0.5) fail("text.golden.epsilon", "must be a cosine distance in (0, 0.5].");
    }

    /// <summary>Refuses an ONNX file whose bytes are not the ones the manifest names.</summary>
    public static void VerifyChecksum(ModelManifest m)
    {
        var actual = Sha256Of(m.OnnxPath);
        if (!string.Equals(actual, m.Onnx.Sha256, StringComparison.OrdinalIgnoreCase))
            throw new ModelManifestException(
                $"{m.ManifestPath}: field 'onnx.sha256' is {m.Onnx.Sha256} but {m.OnnxPath} hashes to {actual}. " +
                "The file is not the revision the manifest describes: restore the file or publish a new revision.");
    }

    public static string Sha256Of(string path)
    {
        using var s = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(s));
    }

    /// <summary>All manifests under a models directory (one per revision folder).</summary>
    public static IReadOnlyList<string> FindManifests(string modelsDirectory) =>
        System.IO.Directory.Exists(modelsDirectory)
            ? System.IO.Directory.GetFiles(modelsDirectory, "manifest.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList()
            : [];
}
