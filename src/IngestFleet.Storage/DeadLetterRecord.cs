using System.Text.Json;
using System.Text.Json.Serialization;
using IngestFleet.Contracts;

namespace IngestFleet.Storage;

/// <summary>
/// One poisoned item, stored as JSON at <see cref="StorageKeys.DeadLetter(string,string,string,string)"/>. Replay
/// republishes <see cref="Job"/> and stamps <see cref="ReplayedAt"/>; a later failure rewrites the record (attempts
/// kept, replay stamp cleared), so an item has at most one record.
/// </summary>
public sealed record DeadLetterRecord
{
    [JsonPropertyName("job")] public EmbedCatalogImage Job { get; init; } = new();
    [JsonPropertyName("reason")] public string Reason { get; init; } = "";
    [JsonPropertyName("detail")] public string Detail { get; init; } = "";
    [JsonPropertyName("attempts")] public int Attempts { get; init; } = 1;
    [JsonPropertyName("worker_host")] public string WorkerHost { get; init; } = "";
    [JsonPropertyName("model_revision")] public string ModelRevision { get; init; } = "";
    [JsonPropertyName("first_failed_at")] public DateTimeOffset FirstFailedAt { get; init; }
    [JsonPropertyName("last_failed_at")] public DateTimeOffset LastFailedAt { get; init; }
    [JsonPropertyName("replayed_at")] public DateTimeOffset? ReplayedAt { get; init; }
    [JsonPropertyName("replay_count")] public int ReplayCount { get; init; }
    /// <summary>The broker user that published the job ("" when its message named nobody; null when unknown: the
    /// embedded mode, or a record older than publisher identity). Replay republishes on that publisher's behalf, so a
    /// job keeps the identity it was first published with.</summary>
    [JsonPropertyName("publisher")] public string? Publisher { get; init; }

    public const string ContentType = "application/json";

    public static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, Json);
    public static DeadLetterRecord FromJson(byte[] bytes) =>
        JsonSerializer.Deserialize<DeadLetterRecord>(bytes, Json) ?? throw new JsonException("empty dead-letter record");
}
