using System.Text.Json;
using System.Text.RegularExpressions;
using IngestFleet.Embedding.Models;
using Microsoft.ML.Tokenizers;

namespace IngestFleet.Embedding.Text;

/// <summary>
/// Turns a text into the ids a revision's text tower was trained on, by its manifest's text contract: the tokenizer
/// (Microsoft.ML.Tokenizers over the files a real export ships), then the start token, the cap (the end token is always
/// the last id kept) and the padding rule. The same object serves the CLI, the worker and the acceptance gate.
/// </summary>
public sealed partial class TextTokenizer
{
    private readonly Tokenizer _tokenizer;
    private readonly TokenizerSpec _spec;

    private TextTokenizer(Tokenizer tokenizer, TextTowerSpec text, int? startId, int endId, int padId)
    {
        _tokenizer = tokenizer;
        _spec = text.Tokenizer;
        Cap = text.TokenCap;
        PadToCap = text.Padding == "max_length";
        StartId = startId;
        EndId = endId;
        PadId = padId;
    }

    public int Cap { get; }
    public bool PadToCap { get; }
    public int? StartId { get; }
    public int EndId { get; }
    public int PadId { get; }

    /// <summary>Loads the tokenizer a manifest's text section names, after checking each file's SHA-256.</summary>
    public static TextTokenizer Load(ModelManifest manifest)
    {
        var text = manifest.Text ?? throw new ModelManifestException($"{manifest.ManifestPath}: {manifest.Revision} has no text tower (no 'text' section).");
        foreach (var f in text.Tokenizer.Files)
        {
            var actual = ManifestLoader.Sha256Of(manifest.PathOf(f.File));
            if (!string.Equals(actual, f.Sha256, StringComparison.OrdinalIgnoreCase))
                throw new ModelManifestException($"{manifest.ManifestPath}: tokenizer file {f.File} hashes to {actual}, not {f.Sha256}: it is not the revision's tokenizer.");
        }
        string? FileNamed(string name) => text.Tokenizer.Files.Select(f => f.File).FirstOrDefault(f => Path.GetFileName(f) == name) is { } f ? manifest.PathOf(f) : null;
        Tokenizer tokenizer = text.Tokenizer.Kind switch
        {
            "clip_bpe" => ClipBpe(FileNamed("vocab.json"), FileNamed("merges.txt"), FileNamed("tokenizer.json"), text.Tokenizer, manifest.ManifestPath),
            "sentencepiece" => SentencePiece(FileNamed("spiece.model") ?? manifest.PathOf(text.Tokenizer.Files[0].File)),
            _ => throw new ModelManifestException($"{manifest.ManifestPath}: text.tokenizer.kind {text.Tokenizer.Kind} is not supported."),
        };
        int Id(string token, string field) => tokenizer is SentencePieceTokenizer sp
            ? sp.Vocabulary.TryGetValue(token, out var i) ? i : throw Missing(token, field)
            : tokenizer is BpeTokenizer bpe && bpe.Vocabulary.TryGetValue(token, out var j) ? j : throw Missing(token, field);
        Exception Missing(string token, string field) => new ModelManifestException($"{manifest.ManifestPath}: {field} '{token}' is not in the tokenizer's vocabulary.");
        var t = text.Tokenizer;
        return new TextTokenizer(tokenizer, text, t.StartToken is { } s ? Id(s, "text.tokenizer.start_token") : null,
            Id(t.EndToken, "text.tokenizer.end_token"), Id(t.PadToken, "text.tokenizer.pad_token"));
    }

    /// <summary>The ids of one text: start token, the text's tokens (as many as the cap leaves room for), end token.
    /// No padding; <paramref name="truncated"/> says whether tokens were dropped.</summary>
    public int[] Encode(string text, out bool truncated)
    {
        var body = _tokenizer.EncodeToIds(Normalize(text), considerPreTokenization: true, considerNormalization: true);
        if (_tokenizer is SentencePieceTokenizer { UnknownId: var unk })
            body = CollapseUnknownRuns(body, unk);
        var room = Cap - 1 - (StartId is null ? 0 : 1);
        truncated = body.Count > room;
        var ids = new List<int>(Math.Min(body.Count, room) + 2);
        if (StartId is { } start) ids.Add(start);
        ids.AddRange(body.Take(room));
        ids.Add(EndId);
        return ids.ToArray();
    }

    public int[] Encode(string text) => Encode(text, out _);

    /// <summary>SentencePiece merges a run of characters its model does not know into one unknown piece
    /// (google/sentencepiece src/sentencepiece_processor.cc, "Merges continuous run of unknown pieces"); Microsoft.ML.Tokenizers
    /// 3.0.0 emits one per character.</summary>
    private static List<int> CollapseUnknownRuns(IReadOnlyList<int> ids, int unknown)
    {
        var kept = new List<int>(ids.Count);
        foreach (var id in ids)
            if (id != unknown || kept.Count == 0 || kept[^1] != unknown) kept.Add(id);
        return kept;
    }

    /// <summary>A batch as the graph takes it: [texts, length] with length the cap (<c>max_length</c>), the graph's fixed
    /// sequence length when it has one, or the longest text (<c>longest</c>), padded with the pad id; and each text's
    /// own length (for an attention mask).</summary>
    public (long[] Ids, int Length, int[] Lengths) EncodeBatch(IReadOnlyList<string> texts, int fixedLength = 0) => EncodeBatch(texts, fixedLength, out _);

    /// <inheritdoc cref="EncodeBatch(IReadOnlyList{string}, int)"/>
    /// <param name="truncated">Whether each text lost tokens to the cap.</param>
    public (long[] Ids, int Length, int[] Lengths) EncodeBatch(IReadOnlyList<string> texts, int fixedLength, out bool[] truncated)
    {
        truncated = new bool[texts.Count];
        var encoded = new int[texts.Count][];
        for (var i = 0; i < encoded.Length; i++) encoded[i] = Encode(texts[i], out truncated[i]);
        var length = fixedLength > 0 ? fixedLength : PadToCap ? Cap : encoded.Max(e => e.Length);
        var ids = new long[texts.Count * length];
        Array.Fill(ids, PadId);
        for (var i = 0; i < encoded.Length; i++)
            for (var j = 0; j < encoded[i].Length; j++)
                ids[i * length + j] = encoded[i][j];
        return (ids, length, encoded.Select(e => e.Length).ToArray());
    }

    /// <summary>The text contract's own rules that run before the tokenizer: SigLIP's canonicalisation (punctuation
    /// removed, whitespace collapsed and trimmed) and lower-casing where the contract asks for it. CLIP's normalisation
    /// (NFC, whitespace, lower case) is part of its tokenizer (<see cref="ClipNormalizer"/>).</summary>
    private string Normalize(string text)
    {
        if (_spec.Lowercase && _spec.Kind != "clip_bpe")
            text = Lower(text);
        if (_spec.StripPunctuation)
            text = Whitespace().Replace(RemoveAsciiPunctuation(text), " ").Trim();
        return text;
    }

    /// <summary>Python's <c>string.punctuation</c>, which Hugging Face's SiglipTokenizer removes (and only those: other
    /// Unicode punctuation, such as — or «, stays).</summary>
    private const string AsciiPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

    private static readonly System.Buffers.SearchValues<char> AsciiPunctuationValues = System.Buffers.SearchValues.Create(AsciiPunctuation);

    private static string RemoveAsciiPunctuation(string text) =>
        text.AsSpan().IndexOfAny(AsciiPunctuationValues) < 0 ? text : string.Concat(text.Where(c => !AsciiPunctuationValues.Contains(c)));

    /// <summary>
    /// Lower case character by character, as both references do (Hugging Face's Rust <c>Lowercase</c> normaliser for
    /// CLIP; for SigLIP, <c>PreTrainedTokenizer.tokenize</c> lower-cases one character at a time, so a final Σ becomes
    /// σ, not ς), with the full mapping .NET's invariant <see cref="string.ToLowerInvariant"/> lacks: U+0130 (İ)
    /// becomes i + U+0307 (SpecialCasing.txt's one unconditional lower-case expansion).
    /// </summary>
    internal static string Lower(string text)
    {
        var lower = text.ToLowerInvariant();
        return lower.Contains('\u0130', StringComparison.Ordinal) ? lower.Replace("\u0130", "i\u0307", StringComparison.Ordinal) : lower;
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    /// <summary>CLIP's tokenizer. Its start and end tokens are special: written literally in a text they become those
    /// tokens, as in the reference tokenizer and its Hugging Face export (whose added tokens match before splitting).</summary>
    private static BpeTokenizer ClipBpe(string? vocab, string? merges, string? tokenizerJson, TokenizerSpec spec, string manifestPath)
    {
        BpeOptions options;
        if (vocab is not null && merges is not null)
            options = new BpeOptions(vocab, merges);
        else if (tokenizerJson is not null)
            options = FromTokenizerJson(tokenizerJson);
        else
            throw new ModelManifestException($"{manifestPath}: a clip_bpe tokenizer needs vocab.json and merges.txt, or tokenizer.json.");
        var vocabulary = options.Vocabulary?.ToDictionary() ?? throw new ModelManifestException($"{manifestPath}: the CLIP vocabulary is empty.");
        var special = new[] { spec.StartToken, spec.EndToken }.OfType<string>().Distinct()
            .ToDictionary(t => t, t => vocabulary.TryGetValue(t, out var id) ? id : throw new ModelManifestException($"{manifestPath}: special token {t} is not in the vocabulary."));
        options.ByteLevel = true;
        options.EndOfWordSuffix = "</w>";
        options.SpecialTokens = special;
        options.Normalizer = new ClipNormalizer();
        options.PreTokenizer = new ClipPreTokenizer(special);
        return BpeTokenizer.Create(options);
    }

    /// <summary>The vocabulary and merges of a Hugging Face <c>tokenizer.json</c> (merges as "a b" strings or as pairs).</summary>
    private static BpeOptions FromTokenizerJson(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        var model = doc.RootElement.GetProperty("model");
        var vocab = model.GetProperty("vocab").EnumerateObject().Select(p => new KeyValuePair<string, int>(p.Name, p.Value.GetInt32())).ToList();
        var merges = model.GetProperty("merges").EnumerateArray()
            .Select(m => m.ValueKind == JsonValueKind.Array ? $"{m[0].GetString()} {m[1].GetString()}" : m.GetString()!).ToList();
        return new BpeOptions(vocab) { Merges = merges };
    }

    private static SentencePieceTokenizer SentencePiece(string path) => SentencePieceModelFile.Load(path);

    /// <summary>CLIP's normaliser: Unicode NFC, each run of whitespace to one space, lower case char by char (the
    /// reference tokenizer also runs ftfy and HTML unescaping, which its Hugging Face fast tokenizer does not; this
    /// follows the latter). NFC comes from ADRaffy.ENSNormalize: under InvariantGlobalization .NET's own
    /// <see cref="string.Normalize()"/> leaves non-ASCII text unchanged.</summary>
    private sealed partial class ClipNormalizer : Normalizer
    {
        public override string Normalize(string original) =>
            Lower(Whitespace().Replace(ADRaffy.ENSNormalize.ENSNormalize.NF.NFC(original), " "));

        public override string Normalize(ReadOnlySpan<char> original) => Normalize(original.ToString());
    }
}
