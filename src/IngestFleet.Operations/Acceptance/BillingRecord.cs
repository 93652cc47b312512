using System.Globalization;

namespace IngestFleet.Operations.Acceptance;

/// <summary>
/// What a node was billed, from the provider's invoice or usage export, as CSV with a header:
/// <c>node_id,billed_start,billed_end</c> (ISO 8601 instants) or <c>node_id,billed_minutes</c>. Several rows per node add up.
/// </summary>
public sealed record BillingRecord(string NodeId, double BilledMinutes)
{
    public static IReadOnlyList<BillingRecord> Load(string path)
    {
        var lines = File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        if (lines.Count < 2) throw new FormatException($"{path}: a header and at least one row are needed");
        var header = lines[0].Split(',').Select(h => h.Trim()).ToArray();
        var byTimes = header.SequenceEqual(["node_id", "billed_start", "billed_end"]);
        if (!byTimes && !header.SequenceEqual(["node_id", "billed_minutes"]))
            throw new FormatException($"{path}: the header must be node_id,billed_start,billed_end or node_id,billed_minutes");
        var records = new List<BillingRecord>();
        for (var i = 1; i < lines.Count; i++)
        {
            var c = lines[i].Split(',').Select(x => x.Trim()).ToArray();
            if (c.Length != header.Length) throw new FormatException($"{path} line {i + 1}: {c.Length} cells, the header has {header.Length}");
            double minutes;
            if (byTimes)
            {
                if (!DateTimeOffset.TryParse(c[1], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var start) ||
                    !DateTimeOffset.TryParse(c[2], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var end) || end < start)
                    throw new FormatException($"{path} line {i + 1}: billed_start and billed_end must be ISO 8601 instants, end after start");
                minutes = (end - start).TotalMinutes;
            }
            else if (!double.TryParse(c[1], NumberStyles.Float, CultureInfo.InvariantCulture, out minutes) || minutes < 0)
                throw new FormatException($"{path} line {i + 1}: billed_minutes '{c[1]}' is not a number ≥ 0");
            records.Add(new BillingRecord(c[0], minutes));
        }
        return records;
    }
}
