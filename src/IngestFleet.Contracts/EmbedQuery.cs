using System.Text.Json.Serialization;

namespace IngestFleet.Contracts;

/// <summary>
/// The online query of <c>POST /v1/embed</c> as it travels to a worker: texts and image sources to embed now, for a
/// caller who waits. Sent by the gateway with RabbitMQ request/reply (direct reply-to) to the query queue of one model
/// revision (<c>{prefix}query-{revision}</c>), answered with an <see cref="EmbedQueryReply"/>.
/// </summary>
public sealed record EmbedQuery
{
    /// <summary>The tenant whose sources the images are (its source allow-list applies); null for texts only.</summary>
    [JsonPropertyName("tenant")] public string? Tenant { get; init; }
    [JsonPropertyName("texts")] public IReadOnlyList<string> Texts { get; init; } = [];
    /// <summary>Image sources (https:// or s3://), fetched by the worker as job images are.</summary>
    [JsonPropertyName("images")] public IReadOnlyList<string> Images { get; init; } = [];
    /// <summary>After this instant nobody waits for the answer: a worker that picks the query up later does no work.</summary>
    [JsonPropertyName("deadline")] public DateTimeOffset Deadline { get; init; }
}

/// <summary>A worker's answer: one vector (or reason) per text and per image, in the request's order.</summary>
public sealed record EmbedQueryReply
{
    [JsonPropertyName("model")] public string Model { get; init; } = "";
    [JsonPropertyName("dimension")] public int Dimension { get; init; }
    /// <summary>The text contract's hash (tokenizer files, cap, truncation, padding); null without a text tower.</summary>
    [JsonPropertyName("text_contract")] public string? TextContract { get; init; }
    [JsonPropertyName("preprocess_contract")] public string PreprocessContract { get; init; } = "";
    [JsonPropertyName("texts")] public IReadOnlyList<QueryVector> Texts { get; init; } = [];
    [JsonPropertyName("images")] public IReadOnlyList<QueryVector> Images { get; init; } = [];
    /// <summary>Set when the whole query could not be served (<c>no_text_tower</c>, <c>deadline_passed</c>, <c>invalid_query</c>).</summary>
    [JsonPropertyName("error")] public Rejection? Error { get; init; }
    [JsonPropertyName("worker")] public string Worker { get; init; } = "";
    [JsonPropertyName("compute_ms")] public double ComputeMs { get; init; }
}

/// <summary>One input's vector (unit length when the manifest normalises), or why it has none.</summary>
public sealed record QueryVector
{
    [JsonPropertyName("embedding")] public float[]? Embedding { get; init; }
    /// <summary>Texts: the token count after the cap; images: null.</summary>
    [JsonPropertyName("tokens")] public int? Tokens { get; init; }
    [JsonPropertyName("truncated")] public bool? Truncated { get; init; }
    [JsonPropertyName("error")] public Rejection? Error { get; init; }
}
