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

    /// <summary>Every schema violation of one job, each as "<c>/pointer</c>: message" (empty when the job is valid).</summary>
    public static IReadOnlyList<string> Evaluate(JsonElement job)
    {
        var results = Schema.Value.Evaluate(job, new EvaluationOptions { OutputFormat = OutputFormat.List, RequireFormatValidation = true });
        if (results.IsValid) return [];
        var problems = new List<string>();
        foreach (var detail in results.Details ?? [])
        {
            if (detail.Errors is not { Count: > 0 } errors) continue;
            var at = detail.InstanceLocation.ToString();
            foreach (var (keyword, message) in errors)
                problems.Add(keyword.Length == 0 && at.Length > 1
                    ? $"{at}: unknown field (the schema allows no other fields)"
                    : $"{(at.Length == 0 ? "/" : at)}: {message}");
        }
        return problems.Count > 0 ? problems : ["the job does not match the schema"];
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
