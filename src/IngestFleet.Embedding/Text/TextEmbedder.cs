using System.Text.Json;
using System.Text.Json.Serialization;
using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Models;
using Microsoft.ML.OnnxRuntime;

namespace IngestFleet.Embedding.Text;

/// <summary>
/// Serves a revision's text tower: tokenizes by the manifest's text contract and runs the text graph on the CPU EP
/// (queries are a few short texts; the graph's sequence axis is dynamic, which the Core ML EP would refuse, so a Mac
/// node's Neural Engine stays with the image tower). Loading checks the ONNX file's SHA-256, the tokenizer files' and
/// the text golden pack: the golden texts must tokenize to the recorded ids and embed within epsilon of the recorded
/// vectors, or the tower refuses to serve, as the image tower does.
/// </summary>
public sealed class TextEmbedder : IDisposable
{
    private readonly InferenceSession _session;
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;
    private readonly bool _attentionMask;
    private readonly int _fixedLength;
    private readonly RunOptions _run = new() { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING };

    /// <summary>The graph's input besides the ids that Optimum's CLIP and SigLIP text exports declare: 1 for a token,
    /// 0 for padding.</summary>
    public const string AttentionMaskInput = "attention_mask";

    private TextEmbedder(ModelManifest manifest, TextTokenizer tokenizer, InferenceSession session)
    {
        Manifest = manifest;
        Tokenizer = tokenizer;
        _session = session;
        var text = manifest.Text!;
        var inputs = session.InputMetadata;
        if (!inputs.TryGetValue(text.Input.Name, out var ids))
            throw new ModelManifestException($"{manifest.ManifestPath}: text.input.name is {text.Input.Name}, but the graph's inputs are {string.Join(", ", inputs.Keys)}.");
        var others = inputs.Keys.Where(k => k != text.Input.Name).ToList();
        if (others.Any(k => k != AttentionMaskInput))
            throw new ModelManifestException($"{manifest.ManifestPath}: the text graph has inputs {string.Join(", ", others)} besides {text.Input.Name}; only {AttentionMaskInput} can be fed.");
        if (!session.OutputMetadata.ContainsKey(text.Output.Name))
            throw new ModelManifestException($"{manifest.ManifestPath}: text.output.name is {text.Output.Name}, but the graph's outputs are {string.Join(", ", session.OutputMetadata.Keys)}.");
        _attentionMask = others.Count == 1;
        _inputNames = _attentionMask ? [text.Input.Name, AttentionMaskInput] : [text.Input.Name];
        _outputNames = [text.Output.Name];
        // A graph exported with a fixed sequence length (say [1, 77]) takes every batch padded to it.
        _fixedLength = ids.Dimensions.Length == 2 && ids.Dimensions[1] > 0 ? ids.Dimensions[1] : 0;
        if (_fixedLength > 0 && _fixedLength < text.TokenCap)
            throw new ModelManifestException($"{manifest.ManifestPath}: the text graph's sequence axis is fixed to {_fixedLength}, shorter than text.token_cap {text.TokenCap}.");
    }

    public ModelManifest Manifest { get; }
    public TextTokenizer Tokenizer { get; }
    public int Dimension => Manifest.OutputDimension;
    /// <summary>Worst cosine distance of the text golden pack at load (NaN when the check was turned off).</summary>
    public double GoldenWorstDistance { get; private set; } = double.NaN;

    public static TextEmbedder Load(ModelManifest manifest, int intraOpThreads = 0, bool verifyGoldenPack = true)
    {
        var text = manifest.Text ?? throw new ModelManifestException($"{manifest.ManifestPath}: {manifest.Revision} has no text tower (no 'text' section); embed images, or use a revision whose export has one.");
        if (text.Heads != "separate")
            throw new ModelManifestException($"{manifest.ManifestPath}: text.heads is {text.Heads}; only a separate text graph is served (export the towers as two graphs).");
        var path = manifest.PathOf(text.Onnx.File);
        var actual = ManifestLoader.Sha256Of(path);
        if (!string.Equals(actual, text.Onnx.Sha256, StringComparison.OrdinalIgnoreCase))
            throw new ModelManifestException($"{manifest.ManifestPath}: field 'text.onnx.sha256' is {text.Onnx.Sha256} but {path} hashes to {actual}.");
        var tokenizer = TextTokenizer.Load(manifest);
        _ = OrtRuntime.Env;
        using var so = new SessionOptions
        {
            IntraOpNumThreads = intraOpThreads > 0 ? intraOpThreads : Math.Min(Environment.ProcessorCount, 4),
            InterOpNumThreads = 1,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING,
        };
        so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        InferenceSession? session = null;
        TextEmbedder embedder;
        try
        {
            session = new InferenceSession(path, so);
            embedder = new TextEmbedder(manifest, tokenizer, session); // checks the graph's inputs and outputs
            session = null;
        }
        finally
        {
            session?.Dispose();
        }
        try
        {
            if (verifyGoldenPack) embedder.VerifyGoldenPack();
        }
        catch
        {
            embedder.Dispose();
            throw;
        }
        return embedder;
    }

    /// <summary>Raw text-tower outputs (not normalised), one row per text.</summary>
    public float[][] RunRaw(IReadOnlyList<string> texts) => RunRaw(texts, out _, out _);

    private float[][] RunRaw(IReadOnlyList<string> texts, out int[] lengths, out bool[] truncated)
    {
        (var ids, var length, lengths) = Tokenizer.EncodeBatch(texts, _fixedLength, out truncated);
        var count = texts.Count;
        using var input = OrtValue.CreateTensorValueFromMemory(ids, [count, length]);
        long[]? mask = null;
        if (_attentionMask)
        {
            mask = new long[ids.Length];
            for (var i = 0; i < count; i++) mask.AsSpan(i * length, lengths[i]).Fill(1);
        }
        using var maskValue = mask is null ? null : OrtValue.CreateTensorValueFromMemory(mask, [count, length]);
        using var results = _session.Run(_run, _inputNames, maskValue is null ? [input] : [input, maskValue], _outputNames);
        var flat = results[0].GetTensorDataAsSpan<float>();
        if (flat.Length != count * Dimension)
            throw new InvalidOperationException($"text tower {Manifest.Revision} returned {flat.Length} values for {count} texts of dimension {Dimension}.");
        var rows = new float[count][];
        for (var i = 0; i < count; i++) rows[i] = flat.Slice(i * Dimension, Dimension).ToArray();
        return rows;
    }

    /// <summary>Query vectors: L2-normalised when the manifest says so (as the revision's image vectors are).</summary>
    public float[][] Embed(IReadOnlyList<string> texts) => Embed(texts, out _);

    /// <inheritdoc cref="Embed(IReadOnlyList{string})"/>
    /// <param name="tokens">Each text's token count (start and end tokens included, no padding) and whether the cap cut it,
    /// from the same tokenization the tower ran on.</param>
    public float[][] Embed(IReadOnlyList<string> texts, out (int Count, bool Truncated)[] tokens)
    {
        tokens = [];
        if (texts.Count == 0) return [];
        var rows = RunRaw(texts, out var lengths, out var truncated);
        tokens = lengths.Select((n, i) => (n, truncated[i])).ToArray();
        foreach (var row in rows)
        {
            var norm = Manifest.L2Normalize ? VectorMath.Normalize(row) : VectorMath.Norm(row);
            if (!(norm > 1e-12) || !double.IsFinite(norm))
                throw new InvalidOperationException($"text tower {Manifest.Revision} produced a zero or non-finite vector (norm {norm}).");
        }
        return rows;
    }

    public double VerifyGoldenPack()
    {
        var path = Manifest.PathOf(Manifest.Text!.Golden.File);
        if (!File.Exists(path))
            throw new ModelManifestException($"{Manifest.ManifestPath}: text.golden.file points at {path}, which does not exist: record it with `ingestfleet models text-golden {Manifest.ManifestPath}`.");
        var pack = TextGoldenPack.Read(path);
        if (pack.Texts.Count == 0 || pack.TokenIds.Count != pack.Texts.Count || pack.Embeddings.Count != pack.Texts.Count
            || pack.Embeddings.Any(e => e.Length != Dimension))
            throw new ModelManifestException($"{path}: the text golden pack needs at least one text, and one id list and one {Dimension}-d output per text.");
        for (var i = 0; i < pack.Texts.Count; i++)
        {
            var ids = Tokenizer.Encode(pack.Texts[i]);
            if (!ids.SequenceEqual(pack.TokenIds[i]))
                throw new ModelManifestException($"{path}: golden text {i} tokenizes to [{string.Join(' ', ids)}], not the recorded [{string.Join(' ', pack.TokenIds[i])}]: the tokenizer is not the revision's.");
        }
        var outputs = RunRaw(pack.Texts);
        var worst = 0.0;
        for (var i = 0; i < outputs.Length; i++)
            worst = Math.Max(worst, 1 - VectorMath.Cosine(outputs[i], pack.Embeddings[i]));
        GoldenWorstDistance = worst;
        var epsilon = Manifest.Text.Golden.EpsilonFor("cpu");
        if (!(worst <= epsilon))
            throw new GoldenPackMismatchException(Manifest.Revision + " (text)", "cpu", worst, epsilon);
        return worst;
    }

    public void Dispose()
    {
        _session.Dispose();
        _run.Dispose();
    }
}

/// <summary>The text tower's golden pack (<c>text-golden.json</c>): texts, the ids they must tokenize to and the raw
/// outputs recorded on the CPU EP.</summary>
public sealed record TextGoldenPack
{
    public IReadOnlyList<string> Texts { get; init; } = [];
    public IReadOnlyList<int[]> TokenIds { get; init; } = [];
    public IReadOnlyList<float[]> Embeddings { get; init; } = [];
    public string OrtVersion { get; init; } = "";
    public string Revision { get; init; } = "";

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static TextGoldenPack Read(string path) =>
        JsonSerializer.Deserialize<TextGoldenPack>(File.ReadAllBytes(path), Json) ?? throw new ModelManifestException($"{path}: empty text golden pack.");

    public void Write(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, Json) + "\n");
}
