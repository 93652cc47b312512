using System.Text.RegularExpressions;

namespace IngestFleet.Embedding.Models;

/// <summary>
/// A fallback the manifest expects: by <see cref="Node"/> name (<c>*</c> matches any run of characters) or by
/// <see cref="OpType"/>, always with a <see cref="Reason"/> (for example "Core ML has no Erf; the GELU stays on CPU").
/// </summary>
public sealed record ExpectedFallback
{
    public string? Node { get; init; }
    public string? OpType { get; init; }
    public string Reason { get; init; } = "";

    public bool Explains(string nodeName, string opType) =>
        (OpType is { Length: > 0 } op && string.Equals(op, opType, StringComparison.Ordinal)) ||
        (Node is { Length: > 0 } pattern && Regex.IsMatch(nodeName, "^" + Regex.Escape(pattern).Replace("\\*", ".*", StringComparison.Ordinal) + "$", RegexOptions.None, TimeSpan.FromSeconds(1)));
}
