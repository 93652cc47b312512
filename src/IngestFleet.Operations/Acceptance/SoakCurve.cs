using System.Globalization;

namespace IngestFleet.Operations.Acceptance;

/// <summary>
/// A production batch curve: jobs per second per priority class, each row held until the next. CSV with a header:
/// <c>offset_seconds</c>, then one column per class (<c>offset_seconds,online,high,normal,bulk</c>). Named built-in
/// curves are defined over fractions of the soak's duration, so the same shape fits a six-hour run and a one-minute test.
/// </summary>
public sealed class SoakCurve
{
    public SoakCurve(string name, IReadOnlyList<string> classes, IReadOnlyList<(double OffsetSeconds, double[] JobsPerSecond)> rows)
    {
        if (rows.Count == 0) throw new FormatException($"curve {name}: no rows");
        if (rows[0].OffsetSeconds != 0) throw new FormatException($"curve {name}: the first row must start at offset_seconds 0");
        for (var i = 1; i < rows.Count; i++)
            if (rows[i].OffsetSeconds <= rows[i - 1].OffsetSeconds) throw new FormatException($"curve {name}: offsets must increase (row {i + 2})");
        Name = name;
        Classes = classes;
        Rows = rows;
    }

    public string Name { get; }
    public IReadOnlyList<string> Classes { get; }
    public IReadOnlyList<(double OffsetSeconds, double[] JobsPerSecond)> Rows { get; }

    /// <summary>Built-in curves: <c>steady</c> (bulk 4/s, online 0.5/s) and <c>production</c> (a day compressed into the
    /// run: a quiet start, an online peak, a bulk backfill, an evening tail).</summary>
    public static readonly IReadOnlyList<string> Named = ["steady", "production"];

    public static SoakCurve Load(string nameOrPath, TimeSpan duration)
    {
        if (File.Exists(nameOrPath)) return Parse(File.ReadAllText(nameOrPath), Path.GetFileName(nameOrPath));
        var d = duration.TotalSeconds;
        return nameOrPath switch
        {
            "steady" => new SoakCurve("steady", ["online", "bulk"], [(0, [0.5, 4])]),
            "production" => new SoakCurve("production", ["online", "normal", "bulk"],
                [(0, [0.2, 0.5, 1]), (d * 0.2, [2, 1, 1]), (d * 0.45, [1, 1, 6]), (d * 0.8, [0.5, 0.5, 2])]),
            _ => throw new FileNotFoundException($"curve '{nameOrPath}' is neither a file nor a built-in curve ({string.Join(", ", Named)})"),
        };
    }

    public static SoakCurve Parse(string csv, string name)
    {
        var lines = csv.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        if (lines.Count < 2) throw new FormatException($"curve {name}: a header and at least one row are needed");
        var header = lines[0].Split(',').Select(h => h.Trim()).ToArray();
        if (header[0] != "offset_seconds" || header.Length < 2)
            throw new FormatException($"curve {name}: the header must be offset_seconds followed by one column per priority class");
        var rows = new List<(double, double[])>();
        for (var i = 1; i < lines.Count; i++)
        {
            var cells = lines[i].Split(',').Select(c => c.Trim()).ToArray();
            if (cells.Length != header.Length) throw new FormatException($"curve {name} line {i + 1}: {cells.Length} cells, the header has {header.Length}");
            var values = cells.Select((c, k) => double.TryParse(c, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v >= 0
                ? v : throw new FormatException($"curve {name} line {i + 1}: '{c}' in column {header[k]} is not a number ≥ 0")).ToArray();
            rows.Add((values[0], values[1..]));
        }
        return new SoakCurve(name, header[1..], rows);
    }

    /// <summary>The jobs per second of each class at an offset into the run.</summary>
    public double[] RatesAt(double offsetSeconds)
    {
        var row = Rows[0];
        foreach (var r in Rows)
            if (r.OffsetSeconds <= offsetSeconds) row = r;
        return row.JobsPerSecond;
    }
}
