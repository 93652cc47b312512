using System.Globalization;
using System.Xml;

namespace IngestFleet.ServiceDefaults;

/// <summary>Durations on every command line: <c>90s</c>, <c>15m</c>, <c>6h</c>, <c>2d</c>, <c>1h30m</c>, <c>250ms</c>, or
/// ISO 8601 (<c>PT6H</c>, <c>P1DT2H</c>).</summary>
public static class Durations
{
    public static TimeSpan Parse(string text)
    {
        if (TryParse(text, out var value)) return value;
        throw new FormatException($"'{text}' is not a duration: use 90s, 15m, 6h, 2d, 1h30m, 250ms or ISO 8601 such as PT6H");
    }

    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        if (string.IsNullOrWhiteSpace(text)) return false;
        var s = text.Trim();
        if (s.StartsWith('P') || s.StartsWith('p'))
        {
            try
            {
                value = XmlConvert.ToTimeSpan(s.ToUpperInvariant());
                return value >= TimeSpan.Zero;
            }
            catch (FormatException)
            {
                return false;
            }
        }
        var total = TimeSpan.Zero;
        var i = 0;
        while (i < s.Length)
        {
            var start = i;
            while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.')) i++;
            if (i == start || !double.TryParse(s.AsSpan(start, i - start), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n)) return false;
            var unitStart = i;
            while (i < s.Length && char.IsAsciiLetter(s[i])) i++;
            var unit = s[unitStart..i].ToLowerInvariant();
            double seconds = unit switch
            {
                "ms" => n / 1000,
                "s" => n,
                "m" or "min" => n * 60,
                "h" => n * 3600,
                "d" => n * 86400,
                _ => double.NaN,
            };
            if (double.IsNaN(seconds)) return false;
            total += TimeSpan.FromSeconds(seconds);
        }
        value = total;
        return true;
    }

    /// <summary>The shortest of the forms above that reads back as the same value (for reports).</summary>
    public static string Format(TimeSpan value) =>
        value.TotalSeconds < 1 ? $"{value.TotalMilliseconds:0}ms"
        : value.TotalMinutes < 1 ? $"{value.TotalSeconds:0.#}s"
        : value.TotalHours < 1 ? $"{value.TotalMinutes:0.#}m"
        : $"{value.TotalHours:0.##}h";
}
