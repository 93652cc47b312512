using System.Text.Json;
using Json.Schema;

namespace IngestFleet.Contracts;

/// <summary>
/// The job schema (<c>schema/embed-catalog-image.v1.schema.json</c>, embedded in this assembly) as the contract: the
/// gateway and the worker evaluate every job's JSON against it with JsonSchema.Net before anything else, so what the
/// schema refuses, every party refuses, with the field's JSON pointer. Decisions recorded in the schema:
/// <c>priority</c> is required (a producer names the class; nothing is guessed), and unknown fields are refused
/// (<c>additionalProperties: false</c>), so a misspelt optional field is an error instead of being silently ignored.
/// </summary>
public static class JobSchema
{
    public const string ResourceName = "embed-catalog-image.v1.schema.json";

    private static readonly Lazy<JsonSchema> Schema = new(() =>
    {
        using var stream = typeof(JobSchema).Assembly.GetManifestResourceStream(ResourceName)
                           ?? throw new InvalidOperationException($"{ResourceName} is not embedded in {typeof(JobSchema).Assembly.GetName().Name}");
        using var reader = new StreamReader(stream);
        return JsonSchema.FromText(reader.ReadToEnd());
    });

    /// <summary>The schema text, as published (the gateway serves it, the README links it).</summary>
    public static string Text
    {
        get
        {
            using var stream = typeof(JobSchema).Assembly.GetManifestResourceStream(ResourceName)!;
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd();
        }
    }

    /// <summary>The most properties a job object may have before the schema is evaluated: the schema has 9 fields, so
    /// anything far beyond is refused in one line instead of one problem per unknown field (a 4 MiB job with 358,771
    /// unknown fields once took 8.6 s and 674 MiB, and answered 22 MB).</summary>
    public const int MaxProperties = 32;

    /// <summary>The most problems reported for one job; the rest are counted in one last line.</summary>
    public const int MaxProblemsPerJob = 10;

    /// <summary>Every schema violation of one job, each as "<c>/pointer</c>: message" (empty when the job is valid), at
    /// most <see cref="MaxProblemsPerJob"/> of them. A job with more than <see cref="MaxProperties"/> properties, or with
    /// malformed Unicode (a lone UTF-16 surrogate in an escaped string, which .NET cannot turn into a string), is
    /// refused before the schema is evaluated.</summary>
    public static IReadOnlyList<string> Evaluate(JsonElement job)
    {
        if (job.ValueKind == JsonValueKind.Object && job.GetPropertyCount() > MaxProperties)
            return [$"/: {job.GetPropertyCount()} fields; a job has at most {MaxProperties} (the schema allows no other fields than its own)"];
        if (MalformedUnicode(job, "") is { } where)
            return [$"{where}: malformed Unicode (a lone UTF-16 surrogate); send valid UTF-8 or well-formed \\u escapes"];
        var results = Schema.Value.Evaluate(job, new EvaluationOptions { OutputFormat = OutputFormat.List, RequireFormatValidation = true });
        if (results.IsValid) return [];
        var problems = new List<string>();
        var more = 0;
        foreach (var detail in results.Details ?? [])
        {
            if (detail.Errors is not { Count: > 0 } errors) continue;
            var at = detail.InstanceLocation.ToString();
            foreach (var (keyword, message) in errors)
            {
                if (problems.Count == MaxProblemsPerJob) { more++; continue; }
                problems.Add(keyword.Length == 0 && at.Length > 1
                    ? $"{at}: unknown field (the schema allows no other fields)"
                    : $"{(at.Length == 0 ? "/" : at)}: {message}");
            }
        }
        if (more > 0) problems.Add($"and {more} more problems");
        return problems.Count > 0 ? problems : ["the job does not match the schema"];
    }

    /// <summary>The JSON pointer of the first property name or string that cannot be decoded (null when none).</summary>
    private static string? MalformedUnicode(JsonElement e, string at)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.String:
                try { _ = e.GetString(); }
                catch (InvalidOperationException) { return at.Length == 0 ? "/" : at; }
                return null;
            case JsonValueKind.Object:
                foreach (var p in e.EnumerateObject())
                {
                    string name;
                    try { name = p.Name; }
                    catch (InvalidOperationException) { return (at.Length == 0 ? "/" : at) + " (a field name)"; }
                    if (MalformedUnicode(p.Value, $"{at}/{name}") is { } inner) return inner;
                }
                return null;
            case JsonValueKind.Array:
                var i = 0;
                foreach (var item in e.EnumerateArray())
                    if (MalformedUnicode(item, $"{at}/{i++}") is { } inner) return inner;
                return null;
            default:
                return null;
        }
    }

    /// <summary>Schema check of raw bytes (the worker's view of a message body).</summary>
    public static IReadOnlyList<string> Evaluate(ReadOnlyMemory<byte> json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            return Evaluate(doc.RootElement);
        }
        catch (JsonException e)
        {
            return [$"/: not valid JSON ({e.Message})"];
        }
    }
}
