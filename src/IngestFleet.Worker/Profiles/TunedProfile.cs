using System.Text.Json;
using System.Text.Json.Serialization;
using IngestFleet.Embedding.Inference;
using IngestFleet.Messaging;

namespace IngestFleet.Worker.Profiles;

/// <summary>
/// What <c>ingestfleet tune</c> writes and a worker loads (<c>IngestFleet:Profile</c> or <c>worker --profile</c>): the
/// chosen batch (the batch message limit), batches in flight (prefetch = batch × this) and thread caps, for one model revision on one EP, with every
/// measurement and the machine it was measured on.
/// </summary>
public sealed record TunedProfile
{
    public const int CurrentVersion = 1;

    [JsonPropertyName("profile_version")] public int ProfileVersion { get; init; } = CurrentVersion;
    [JsonPropertyName("model_revision")] public string ModelRevision { get; init; } = "";
    [JsonPropertyName("model_sha256")] public string ModelSha256 { get; init; } = "";
    [JsonPropertyName("execution_provider")] public ExecutionProvider ExecutionProvider { get; init; } = ExecutionProvider.Cpu;
    [JsonPropertyName("intra_op_threads")] public int IntraOpThreads { get; init; }
    [JsonPropertyName("inter_op_threads")] public int InterOpThreads { get; init; } = 1;
    [JsonPropertyName("batch")] public int Batch { get; init; }

    /// <summary>Batches held at once per queue (prefetch = batch × this); absent in profiles written before it: the
    /// worker's configured depth then stands.</summary>
    [JsonPropertyName("batches_in_flight")] public int? BatchesInFlight { get; init; }
    [JsonPropertyName("rule")] public string Rule { get; init; } = "";
    [JsonPropertyName("tolerance")] public double Tolerance { get; init; }
    [JsonPropertyName("p95_budget_ms")] public double? P95BudgetMs { get; init; }
    [JsonPropertyName("created_at")] public DateTimeOffset CreatedAt { get; init; }
    [JsonPropertyName("machine")] public MachineInfo Machine { get; init; } = new();
    [JsonPropertyName("measurements")] public IReadOnlyList<TuneCell> Measurements { get; init; } = [];

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Loads and checks a profile; every problem names the file and the field.</summary>
    public static TunedProfile Load(string path)
    {
        if (!File.Exists(path)) throw new ProfileException($"{path}: no such profile file (write one with `ingestfleet tune --out DIR`)");
        TunedProfile? p;
        try
        {
            p = JsonSerializer.Deserialize<TunedProfile>(File.ReadAllText(path), Json);
        }
        catch (JsonException e)
        {
            throw new ProfileException($"{path}: not a tuned profile ({e.Message})");
        }
        if (p is null) throw new ProfileException($"{path}: empty profile");
        var problems = new List<string>();
        if (p.ProfileVersion != CurrentVersion) problems.Add($"profile_version {p.ProfileVersion} (this build reads {CurrentVersion})");
        if (string.IsNullOrEmpty(p.ModelRevision)) problems.Add("model_revision is missing");
        if (p.Batch is < 1 or > 512) problems.Add($"batch {p.Batch} is outside 1..512");
        if (p.BatchesInFlight is < 1 or > 16) problems.Add($"batches_in_flight {p.BatchesInFlight} is outside 1..16");
        if (p.IntraOpThreads is < 1 or > 256) problems.Add($"intra_op_threads {p.IntraOpThreads} is outside 1..256");
        if (p.InterOpThreads is < 1 or > 64) problems.Add($"inter_op_threads {p.InterOpThreads} is outside 1..64");
        if (problems.Count > 0) throw new ProfileException($"{path}: " + string.Join("; ", problems));
        return p;
    }

    /// <summary>The configuration keys the profile sets (batch size → message limit; batches in flight → with it, the
    /// prefetch; thread caps).</summary>
    public IEnumerable<KeyValuePair<string, string?>> ToConfiguration()
    {
        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        yield return new($"{FleetOptions.SectionName}:BatchSize", Batch.ToString(invariant));
        if (BatchesInFlight is { } depth) yield return new($"{FleetOptions.SectionName}:BatchesInFlight", depth.ToString(invariant));
        yield return new("IngestFleet:Embedder:IntraOpThreads", IntraOpThreads.ToString(invariant));
        yield return new("IngestFleet:Embedder:InterOpThreads", InterOpThreads.ToString(invariant));
    }
}
