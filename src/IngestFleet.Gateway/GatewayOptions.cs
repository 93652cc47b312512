using System.ComponentModel.DataAnnotations;

namespace IngestFleet.Gateway;

/// <summary>Gateway settings. Bound from <c>IngestFleet:Gateway</c>.</summary>
public sealed class GatewayOptions
{
    public const string SectionName = "IngestFleet:Gateway";

    /// <value>Default 1,000 jobs per POST.</value>
    [Range(1, 100_000)] public int MaxJobsPerRequest { get; set; } = 1_000;

    /// <summary>Request bodies above this are refused with 413 before they are read.</summary>
    /// <value>Default 4 MiB.</value>
    [Range(1_024, 256L * 1024 * 1024)] public long MaxRequestBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>POST /v1/jobs requests handled at once; one more is answered 503 with Retry-After at once (no queue),
    /// so memory is bounded by this × <see cref="MaxRequestBytes"/>.</summary>
    /// <value>Default 64.</value>
    [Range(1, 10_000)] public int MaxConcurrentRequests { get; set; } = 64;

    /// <summary>POST /v1/jobs requests one API key may have in progress; one more is answered 429 with Retry-After at
    /// once, before it takes one of the gateway's <see cref="MaxConcurrentRequests"/>: one key holds at most this share,
    /// and never more than all but one of the gateway's slots.</summary>
    /// <value>Default 8.</value>
    [Range(1, 10_000)] public int MaxConcurrentRequestsPerKey { get; set; } = 8;

    /// <summary>The whole request body must arrive within this many seconds of the request being taken; a slower one is
    /// answered 408, charged to its key and its connection closed (a body trickled at a few bytes a second holds a slot
    /// for this long at most).</summary>
    /// <value>Default 30 s (4 MiB at 140 KB/s).</value>
    [Range(0.1, 600)] public double BodyReadTimeoutSeconds { get; set; } = 30;

    /// <summary>How long one request may wait for broker confirms before it is answered 503.</summary>
    /// <value>Default 10 s.</value>
    [Range(0.1, 300)] public double PublishTimeoutSeconds { get; set; } = 10;

    /// <summary>Texts plus images one <c>POST /v1/embed</c> may carry (a query, not a batch: bulk goes through jobs).</summary>
    /// <value>Default 16.</value>
    [Range(1, 256)] public int MaxEmbedInputs { get; set; } = 16;

    /// <summary>Characters one query text may have (the tokenizer's cap truncates far earlier; this bounds the work).</summary>
    /// <value>Default 2,000.</value>
    [Range(1, 100_000)] public int MaxEmbedTextChars { get; set; } = 2_000;

    /// <summary>How long <c>POST /v1/embed</c> waits for a worker's answer unless the request says (<c>deadline_ms</c>).</summary>
    /// <value>Default 2,000 ms.</value>
    [Range(1, 600_000)] public int EmbedDeadlineMs { get; set; } = 2_000;

    /// <summary>The longest deadline a request may ask for.</summary>
    /// <value>Default 30,000 ms.</value>
    [Range(1, 600_000)] public int MaxEmbedDeadlineMs { get; set; } = 30_000;

    /// <summary>The model revision a query without <c>model</c> goes to (empty: the request must name one).</summary>
    public string EmbedModel { get; set; } = "";
}
