namespace IngestFleet.Contracts;

/// <summary>
/// Stable reason codes for an item that did not become a vector. They appear in dead-letter records, in
/// <c>ingestfleet embed --json</c> output and in metrics, so they are part of the public contract: add codes,
/// never rename or reuse one. The README's "Reason codes" table documents each.
/// </summary>
public static class ReasonCodes
{
    // Input bytes
    public const string Empty = "empty";
    public const string TooManyBytes = "too_many_bytes";
    public const string NotAnImage = "not_an_image";
    public const string UnsupportedFormat = "unsupported_format";

    // Header-level limits, enforced by Identify before any pixel is decoded
    public const string TooManyPixels = "too_many_pixels";
    public const string TooSmall = "too_small";
    public const string BadAspect = "bad_aspect";

    // Decoding
    public const string Truncated = "truncated";
    public const string Corrupt = "corrupt";
    public const string AllocationLimit = "allocation_limit";

    // Inference
    public const string NonFiniteOutput = "non_finite_output";
    public const string ZeroNormOutput = "zero_norm_output";
    public const string InferenceFailed = "inference_failed";

    // Fetching (fleet pipeline)
    public const string SourceNotFound = "source_not_found";
    public const string SourceForbidden = "source_forbidden";
    /// <summary>The source's host does not exist (DNS answers "no such name") or its TLS certificate does not verify:
    /// neither heals in a retry budget, so the item is not retried and its batch does not wait on it.</summary>
    public const string SourceUnreachable = "source_unreachable";
    /// <summary>A permanent fetch failure that has no narrower code (a 4xx other than 403/404/410, a malformed redirect).</summary>
    public const string FetchFailed = "fetch_failed";
    /// <summary>
    /// An infrastructure fault (5xx, 429, a timeout, a refused or reset connection) that persisted through the whole
    /// retry budget; the record's detail names the attempts and the last error. Replay it once the source is healthy.
    /// </summary>
    public const string TransientExhausted = "transient_exhausted";
    public const string InvalidJob = "invalid_job";
    public const string ModelRevisionMismatch = "model_revision_mismatch";
    public const string DeadlinePassed = "deadline_passed";
    /// <summary>The worker serves a tenant-bound model bundle and the job's tenant has none for this revision.</summary>
    public const string ModelBundleMissing = "model_bundle_missing";
    /// <summary>The job's publisher (its broker user) may not publish for the job's tenant, or the message named no
    /// publisher. Recorded under the tenant <c>_unauthorized</c>, never in the claimed tenant's dead letters.</summary>
    public const string PublisherNotAuthorized = "publisher_not_authorized";

    // Load shedding: not a failure of the item; its queue passed its published max depth and the job was parked.
    public const string Shed = "shed";

    // Delivery failures the broker reported: past the delivery limit (a worker crashed on the message each time), or
    // left in a MassTransit _error / _skipped queue. The record carries the delivery count and the fault.
    public const string Poison = "poison";

    public static readonly IReadOnlyList<string> All =
    [
        Empty, TooManyBytes, NotAnImage, UnsupportedFormat, TooManyPixels, TooSmall, BadAspect, Truncated, Corrupt,
        AllocationLimit, NonFiniteOutput, ZeroNormOutput, InferenceFailed, SourceNotFound, SourceForbidden,
        SourceUnreachable, FetchFailed, TransientExhausted, InvalidJob, ModelRevisionMismatch, DeadlinePassed, ModelBundleMissing, PublisherNotAuthorized,
        Shed, Poison,
    ];
}
