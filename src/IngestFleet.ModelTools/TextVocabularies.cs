using System.Text;
using System.Text.Json.Nodes;
using Google.Protobuf;

namespace IngestFleet.ModelTools;

/// <summary>The words forged vocabularies are learned from: catalog words, with seeded frequencies.</summary>
internal static class TextCorpus
{
    private const string Words =
        "a an the and with for of in on to by from size small medium large extra new set pack pair kit " +
        "red blue green black white grey gray brown beige navy pink purple yellow orange gold silver cream ivory " +
        "leather cotton denim wool linen silk suede canvas nylon polyester cashmere velvet steel wood wooden glass ceramic " +
        "bag handbag backpack wallet belt shoe shoes sneaker sneakers boot boots sandal jacket coat shirt dress skirt jeans " +
        "trousers sweater hoodie scarf hat cap glove gloves sock socks watch ring necklace bracelet earrings sunglasses " +
        "chair table sofa lamp desk bed shelf rug mirror vase mug cup plate bowl pan pot kettle knife fork spoon towel " +
        "phone case charger cable laptop tablet camera lens speaker headphones keyboard mouse monitor printer " +
        "women men kids girls boys unisex classic modern vintage slim regular fit soft warm light heavy waterproof " +
        "striped floral printed plain cropped oversized long short sleeve sleeves collar button zip pocket pockets " +
        "dining kitchen garden outdoor indoor office travel running hiking summer winter spring autumn rim crème café " +
        "naïve über señor straße müsli jalapeño façade";

    public static IReadOnlyList<(string Word, int Count)> Sample(SeededRandom rng) =>
        Words.Split(' ', StringSplitOptions.RemoveEmptyEntries).Distinct().Select(w => (w, 1 + (int)(rng.NextDouble() * 40))).ToList();
}

/// <summary>
/// CLIP's byte-level BPE, learned here: the 256 byte symbols and their end-of-word forms, then merges learned from
/// <see cref="TextCorpus"/> (each word's bytes, the last one marked <c>&lt;/w&gt;</c>, the most frequent pair merged
/// first), then the start and end tokens, in the order and file formats of the reference tokenizer.
/// </summary>
internal static class ClipVocabulary
{
    private const int MaxMerges = 1500;

    /// <summary>GPT-2's printable stand-ins for the 256 bytes (printable Latin-1 for itself, the rest from U+0100).</summary>
    public static string[] ByteSymbols()
    {
        var symbols = new string[256];
        var next = 0;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            symbols[b] = printable ? ((char)b).ToString() : ((char)(256 + next++)).ToString();
        }
        return symbols;
    }

    public static (Dictionary<string, int> Vocab, List<string> Merges) Build(SeededRandom rng)
    {
        var bytes = ByteSymbols();
        var vocab = new Dictionary<string, int>();
        // The reference orders the base symbols printable-first (bytes_to_unicode's order).
        var ordered = Enumerable.Range(0, 256).OrderBy(b => bytes[b][0] >= 256 ? 1 : 0).ThenBy(b => bytes[b][0] >= 256 ? bytes[b][0] : b).Select(b => bytes[b]).ToList();
        foreach (var s in ordered) vocab[s] = vocab.Count;
        foreach (var s in ordered) vocab[s + "</w>"] = vocab.Count;

        var words = TextCorpus.Sample(rng).Select(wc =>
        {
            var symbols = Encoding.UTF8.GetBytes(wc.Word).Select(b => bytes[b]).ToList();
            symbols[^1] += "</w>";
            return (Symbols: symbols, wc.Count);
        }).ToList();
        var merges = new List<string>();
        while (merges.Count < MaxMerges)
        {
            var pairs = new Dictionary<(string, string), int>();
            foreach (var (symbols, count) in words)
                for (var i = 0; i + 1 < symbols.Count; i++)
                    pairs[(symbols[i], symbols[i + 1])] = pairs.GetValueOrDefault((symbols[i], symbols[i + 1])) + count;
            if (pairs.Count == 0) break;
            var best = pairs.OrderByDescending(p => p.Value).ThenBy(p => p.Key.Item1, StringComparer.Ordinal).ThenBy(p => p.Key.Item2, StringComparer.Ordinal).First().Key;
            merges.Add($"{best.Item1} {best.Item2}");
            var merged = best.Item1 + best.Item2;
            if (!vocab.ContainsKey(merged)) vocab[merged] = vocab.Count;
            foreach (var (symbols, _) in words)
                for (var i = 0; i + 1 < symbols.Count; i++)
                    if (symbols[i] == best.Item1 && symbols[i + 1] == best.Item2)
                    {
                        symbols[i] = merged;
                        symbols.RemoveAt(i + 1);
                    }
        }
        vocab[TextForge.ClipStart] = vocab.Count;
        vocab[TextForge.ClipEnd] = vocab.Count;
        return (vocab, merges);
    }

    /// <summary>The same tokenizer as a Hugging Face <c>tokenizer.json</c>, laid out as CLIP's fast tokenizer export is
    /// (NFC, whitespace and lower-case normaliser; CLIP's split then byte-level pre-tokenizer; BPE with the
    /// <c>&lt;/w&gt;</c> suffix; start and end tokens added by the post-processor).</summary>
    public static JsonObject HuggingFaceJson(Dictionary<string, int> vocab, List<string> merges)
    {
        JsonObject Special(string token) => new()
        {
            ["id"] = vocab[token], ["content"] = token, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
            ["normalized"] = true, ["special"] = true,
        };
        var vocabJson = new JsonObject();
        foreach (var (token, id) in vocab.OrderBy(p => p.Value)) vocabJson[token] = id;
        return new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = new JsonArray(Special(TextForge.ClipStart), Special(TextForge.ClipEnd)),
            ["normalizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["normalizers"] = new JsonArray(
                    new JsonObject { ["type"] = "NFC" },
                    new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["Regex"] = "\\s+" }, ["content"] = " " },
                    new JsonObject { ["type"] = "Lowercase" }),
            },
            ["pre_tokenizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new JsonArray(
                    new JsonObject
                    {
                        ["type"] = "Split",
                        ["pattern"] = new JsonObject { ["Regex"] = "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+" },
                        ["behavior"] = "Removed",
                        ["invert"] = true,
                    },
                    new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = false }),
            },
            ["post_processor"] = new JsonObject
            {
                ["type"] = "RobertaProcessing",
                ["sep"] = new JsonArray(TextForge.ClipEnd, vocab[TextForge.ClipEnd]),
                ["cls"] = new JsonArray(TextForge.ClipStart, vocab[TextForge.ClipStart]),
                ["trim_offsets"] = false,
                ["add_prefix_space"] = false,
            },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = true, ["use_regex"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["dropout"] = null,
                ["unk_token"] = TextForge.ClipEnd,
                ["continuing_subword_prefix"] = "",
                ["end_of_word_suffix"] = "</w>",
                ["fuse_unk"] = false,
                ["byte_fallback"] = false,
                ["vocab"] = vocabJson,
                ["merges"] = new JsonArray(merges.Select(m => (JsonNode)JsonValue.Create(m)!).ToArray()),
            },
        };
    }
}

/// <summary>
/// SigLIP's SentencePiece unigram model, generated: <c>&lt;pad&gt;</c> 0, <c>&lt;/s&gt;</c> 1, <c>&lt;unk&gt;</c> 2, then
/// every corpus word with the word-start mark ▁ (scored by its log frequency), common endings, and single characters
/// (low scores, so any text over the corpus's letters still segments); anything else is <c>&lt;unk&gt;</c>. Written
/// as the <c>ModelProto</c> of sentencepiece_model.proto (fields from google/sentencepiece src/sentencepiece_model.proto).
/// </summary>
internal static class SentencePieceVocabulary
{
    private const string WordStart = "\u2581";
    private static readonly string[] Endings = ["s", "es", "ed", "ing", "er", "ers", "ly", "y"];

    public static List<(string Piece, float Score, int Type)> Build(SeededRandom rng)
    {
        var words = TextCorpus.Sample(rng);
        var total = (double)words.Sum(w => w.Count);
        var pieces = new List<(string, float, int)> { ("<pad>", 0, 3), (TextForge.SigLipEnd, 0, 3), (TextForge.SigLipUnknown, 0, 2) };
        var seen = new HashSet<string>(pieces.Select(p => p.Item1));
        void Add(string piece, double score)
        {
            if (seen.Add(piece)) pieces.Add((piece, (float)score, 1));
        }
        foreach (var (word, count) in words.OrderByDescending(w => w.Count).ThenBy(w => w.Word, StringComparer.Ordinal))
            Add(WordStart + word, Math.Log(count / total));
        foreach (var ending in Endings)
            Add(ending, -9 - ending.Length * 0.1);
        var characters = words.SelectMany(w => w.Word).Concat("abcdefghijklmnopqrstuvwxyz0123456789").Distinct().Order().ToList();
        Add(WordStart, -12);
        foreach (var c in characters)
            Add(c.ToString(), -13);
        return pieces;
    }

    public static byte[] ModelProto(List<(string Piece, float Score, int Type)> pieces)
    {
        using var buffer = new MemoryStream();
        using var output = new CodedOutputStream(buffer, leaveOpen: true);
        foreach (var (piece, score, type) in pieces)
            WriteMessage(output, 1, m =>
            {
                m.WriteTag(1, WireFormat.WireType.LengthDelimited); m.WriteString(piece);
                m.WriteTag(2, WireFormat.WireType.Fixed32); m.WriteFloat(score);
                m.WriteTag(3, WireFormat.WireType.Varint); m.WriteEnum(type);
            });
        WriteMessage(output, 2, m => // TrainerSpec
        {
            m.WriteTag(3, WireFormat.WireType.Varint); m.WriteEnum(1);              // model_type UNIGRAM
            m.WriteTag(4, WireFormat.WireType.Varint); m.WriteInt32(pieces.Count);  // vocab_size
            m.WriteTag(40, WireFormat.WireType.Varint); m.WriteInt32(2);            // unk_id
            m.WriteTag(41, WireFormat.WireType.Varint); m.WriteInt32(-1);           // bos_id: none
            m.WriteTag(42, WireFormat.WireType.Varint); m.WriteInt32(1);            // eos_id
            m.WriteTag(43, WireFormat.WireType.Varint); m.WriteInt32(0);            // pad_id
        });
        WriteMessage(output, 3, m => // NormalizerSpec
        {
            m.WriteTag(1, WireFormat.WireType.LengthDelimited); m.WriteString("identity");
            m.WriteTag(3, WireFormat.WireType.Varint); m.WriteBool(true);           // add_dummy_prefix
            m.WriteTag(4, WireFormat.WireType.Varint); m.WriteBool(true);           // remove_extra_whitespaces
            m.WriteTag(5, WireFormat.WireType.Varint); m.WriteBool(true);           // escape_whitespaces
        });
        output.Flush();
        return buffer.ToArray();
    }

    private static void WriteMessage(CodedOutputStream output, int field, Action<CodedOutputStream> write)
    {
        using var inner = new MemoryStream();
        using var m = new CodedOutputStream(inner, leaveOpen: true);
        write(m);
        m.Flush();
        output.WriteTag(field, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFrom(inner.ToArray()));
    }
}
