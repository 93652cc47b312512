using System.Text.Json.Serialization;

namespace IngestFleet.Contracts;

/// <summary>
/// Command, schema version 1: embed one catalog image. Every publisher in the fleet (CLI, gateway, replay, shedder)
/// and producers in any language publish it as plain JSON (<see cref="JobJson"/>, content type application/json) to the
/// priority's queue, per <c>schema/embed-catalog-image.v1.schema.json</c>. Field names are snake_case on the wire
/// in both cases. A JSON <c>null</c> in a string field reads as empty (and then fails validation with the field's
/// name), so a hostile or sloppy producer can never make a consumer throw.
/// </summary>
public sealed record EmbedCatalogImage
{
    public const int CurrentSchemaVersion = 1;

    [JsonPropertyName("schema_version")] public int SchemaVersion { get; init; } = CurrentSchemaVersion;
    [JsonPropertyName("tenant")] public string Tenant { get; init => field = value ?? ""; } = "";
    [JsonPropertyName("shard")] public string Shard { get; init => field = value ?? ""; } = "";
    [JsonPropertyName("item_id")] public string ItemId { get; init => field = value ?? ""; } = "";
    /// <summary><c>s3://bucket/key</c>, <c>https://…</c>, or (embedded mode only) <c>file://…</c>.</summary>
    [JsonPropertyName("image")] public string Image { get; init => field = value ?? ""; } = "";
    /// <summary>A configured priority class (defaults: online, high, normal, bulk).</summary>
    [JsonPropertyName("priority")] public string Priority { get; init => field = value ?? ""; } = "normal";
    /// <summary>The model revision to embed with; empty means the worker's revision.</summary>
    [JsonPropertyName("model_revision")] public string ModelRevision { get; init => field = value ?? ""; } = "";
    /// <summary>Optional: past this instant the job is dead-lettered as <c>deadline_passed</c> instead of embedded.</summary>
    [JsonPropertyName("deadline")] public DateTimeOffset? Deadline { get; init; }
    /// <summary>When the producer enqueued the job (queue-wait telemetry); set by the publisher when absent.</summary>
    [JsonPropertyName("enqueued_at")] public DateTimeOffset? EnqueuedAt { get; init; }
    /// <summary>How many times operators replayed this job (dead letter or shed), 0 for an original.</summary>
    [JsonPropertyName("replays")] public int Replays { get; init; }

    /// <summary>Who published the job: set by the receiving worker from the message's broker identity (AMQP
    /// <c>user_id</c>; see PublisherIdentity), "" when the message named nobody, null where no broker carried it (the
    /// embedded mode). Never read from or written to the body, so a producer cannot claim it.</summary>
    [JsonIgnore] public string? Publisher { get; init; }

    /// <summary>When a worker first put the job back because its fetch outlasted the per-item budget (from the message's
    /// <c>x-ingestfleet-deferred-since</c> header); null for a job never deferred. Not part of the body.</summary>
    [JsonIgnore] public DateTimeOffset? DeferredSince { get; init; }

    /// <summary>The item's identity across redeliveries and replays.</summary>
    [JsonIgnore] public string Key => $"{Tenant}/{Shard}/{ItemId}";
}
