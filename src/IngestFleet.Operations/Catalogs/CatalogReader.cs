using System.Globalization;
using System.Text.Json;
using CsvHelper;
using CsvHelper.Configuration;
using IngestFleet.Contracts;

namespace IngestFleet.Operations.Catalogs;

/// <summary>
/// Reads a catalog manifest: JSON Lines (<c>.jsonl</c>, <c>.ndjson</c>) objects or CSV with a header, fields
/// <c>item_id</c>, <c>image</c>, optional <c>tenant</c>, <c>shard</c>, <c>priority</c>. Every line is validated
/// before anything is returned, so a bad catalog publishes nothing.
/// </summary>
public static class CatalogReader
{
    private static readonly string[] Known = ["item_id", "image", "tenant", "shard", "priority"];

    public static IReadOnlyList<EmbedCatalogImage> Read(string path, CatalogDefaults defaults, IReadOnlyCollection<string> priorities, bool embedded)
    {
        if (!File.Exists(path))
            throw new CatalogException($"catalog {path} does not exist. Pass the path of a .jsonl or .csv catalog.");
        var ext = Path.GetExtension(path).ToLowerInvariant();
        var rows = ext switch
        {
            ".jsonl" or ".ndjson" or ".json" => ReadJsonl(path),
            ".csv" => ReadCsv(path),
            _ => throw new CatalogException($"catalog {path}: unknown extension '{ext}'. Use .jsonl (one JSON object per line) or .csv (with a header)."),
        };
        var baseDir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var problems = new List<string>();
        var jobs = new List<EmbedCatalogImage>();
        var seen = new Dictionary<string, int>();
        foreach (var (line, fields, error) in rows)
        {
            if (error is not null) { problems.Add($"line {line}: {error}"); continue; }
            var unknown = fields!.Keys.Where(k => !Known.Contains(k)).ToList();
            if (unknown.Count > 0) { problems.Add($"line {line}: unknown field(s) {string.Join(", ", unknown)} (expected {string.Join(", ", Known)})"); continue; }
            string Get(string k, string fallback) => fields.TryGetValue(k, out var v) && !string.IsNullOrWhiteSpace(v) ? v.Trim() : fallback;
            var image = Get("image", "");
            if (embedded && image.Length > 0 && !Uri.TryCreate(image, UriKind.Absolute, out _))
                image = new Uri(Path.GetFullPath(Path.Combine(baseDir, image))).AbsoluteUri;
            var job = new EmbedCatalogImage
            {
                ItemId = Get("item_id", ""), Image = image, Tenant = Get("tenant", defaults.Tenant), Shard = Get("shard", defaults.Shard),
                Priority = Get("priority", defaults.Priority), ModelRevision = defaults.ModelRevision,
            };
            var jobProblems = JobValidator.Validate(job, priorities, allowFileScheme: embedded);
            if (jobProblems.Count > 0) { problems.Add($"line {line}: {string.Join("; ", jobProblems)}"); continue; }
            if (seen.TryGetValue(job.Key, out var first)) { problems.Add($"line {line}: item {job.Key} repeats line {first}"); continue; }
            seen[job.Key] = line;
            jobs.Add(job);
        }
        if (problems.Count > 0) throw new CatalogException(problems);
        if (jobs.Count == 0) throw new CatalogException($"catalog {path} has no items.");
        return jobs;
    }

    private static IEnumerable<(int Line, Dictionary<string, string>? Fields, string? Error)> ReadJsonl(string path)
    {
        var n = 0;
        foreach (var text in File.ReadLines(path))
        {
            n++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            Dictionary<string, string>? fields = null;
            string? error = null;
            try
            {
                using var doc = JsonDocument.Parse(text);
                if (doc.RootElement.ValueKind != JsonValueKind.Object) error = "not a JSON object";
                else fields = doc.RootElement.EnumerateObject().ToDictionary(p => p.Name,
                    p => p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText());
            }
            catch (JsonException e)
            {
                error = $"invalid JSON ({e.Message})";
            }
            yield return (n, fields, error);
        }
    }

    private static IEnumerable<(int Line, Dictionary<string, string>? Fields, string? Error)> ReadCsv(string path)
    {
        using var reader = new StreamReader(path);
        using var csv = new CsvReader(reader, new CsvConfiguration(CultureInfo.InvariantCulture) { TrimOptions = TrimOptions.Trim, DetectColumnCountChanges = true });
        if (!csv.Read() || !csv.ReadHeader())
            yield break;
        var header = csv.HeaderRecord!;
        while (true)
        {
            bool more;
            string? error = null;
            try { more = csv.Read(); }
            catch (CsvHelperException e) { more = true; error = e.Message.Split('\n')[0]; }
            if (!more) break;
            var line = csv.Parser.RawRow;
            if (error is not null) { yield return (line, null, error); continue; }
            var fields = new Dictionary<string, string>();
            for (var i = 0; i < header.Length; i++)
                fields[header[i].Trim()] = csv.GetField(i) ?? "";
            yield return (line, fields, null);
        }
    }
}
