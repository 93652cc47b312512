using System.Text;
using Microsoft.ML.Tokenizers;

namespace IngestFleet.Embedding.Text;

/// <summary>
/// CLIP's split, by Unicode scalar: the special tokens as written; then, leftmost first, a contraction
/// (<c>'s 't 're 've 'm 'll 'd</c>), a run of letters (<c>\p{L}+</c>), one number (<c>\p{N}</c>), or a run of anything
/// else that is not whitespace (<c>[^\s\p{L}\p{N}]+</c>); whitespace itself is dropped. This is the pattern of the
/// reference tokenizer and of Hugging Face's <c>tokenizer.json</c>, whose Rust regex matches code points; .NET's
/// <c>Regex</c> matches UTF-16 code units, so <c>\p{L}</c> never matches a letter outside the BMP (CJK extension B,
/// mathematical alphanumerics) and would split such a run where Rust does not.
/// </summary>
internal sealed class ClipPreTokenizer(IReadOnlyDictionary<string, int> specialTokens) : PreTokenizer
{
    private static readonly string[] Contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"];
    private readonly string[] _special = [.. specialTokens.Keys.OrderByDescending(k => k.Length)];

    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) => Split(text);

    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => Split(text.ToString());

    private List<(int Offset, int Length)> Split(string text)
    {
        var pieces = new List<(int, int)>();
        var i = 0;
        while (i < text.Length)
        {
            // Special tokens split the text first (the reference matches them before its pattern runs).
            if (_special.FirstOrDefault(s => string.CompareOrdinal(text, i, s, 0, s.Length) == 0) is { } special)
            {
                pieces.Add((i, special.Length));
                i += special.Length;
                continue;
            }
            var end = _special.Select(s => text.IndexOf(s, i, StringComparison.Ordinal)).Where(at => at >= 0).DefaultIfEmpty(text.Length).Min();
            SplitSegment(text, i, end, pieces);
            i = end;
        }
        return pieces;
    }

    private static void SplitSegment(string text, int i, int end, List<(int, int)> pieces)
    {
        while (i < end)
        {
            var rune = Rune.GetRuneAt(text, i);
            if (Rune.IsWhiteSpace(rune))
            {
                i += rune.Utf16SequenceLength;
                continue;
            }
            if (Contractions.FirstOrDefault(c => c.Length <= end - i && string.CompareOrdinal(text, i, c, 0, c.Length) == 0) is { } contraction)
            {
                pieces.Add((i, contraction.Length));
                i += contraction.Length;
                continue;
            }
            var start = i;
            if (Rune.IsLetter(rune))
                i = RunWhile(i, Rune.IsLetter);
            else if (Rune.IsNumber(rune))
                i += rune.Utf16SequenceLength;
            else
                i = RunWhile(i, r => !Rune.IsWhiteSpace(r) && !Rune.IsLetter(r) && !Rune.IsNumber(r));
            pieces.Add((start, i - start));
        }

        int RunWhile(int at, Func<Rune, bool> keep)
        {
            while (at < end && Rune.GetRuneAt(text, at) is var r && keep(r)) at += r.Utf16SequenceLength;
            return at;
        }
    }
}
