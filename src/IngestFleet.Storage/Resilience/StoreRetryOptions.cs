using System.ComponentModel.DataAnnotations;

namespace IngestFleet.Storage.Resilience;

/// <summary>How long store calls are retried through an outage. Bound from <c>IngestFleet:StoreRetry</c>.</summary>
public sealed class StoreRetryOptions
{
    public const string SectionName = "IngestFleet:StoreRetry";

    /// <summary>
    /// How long one store call keeps retrying a transient fault before it gives up and throws. While it retries, the
    /// batch waits with its messages unacknowledged (nothing is redone); past it, the batch fails and its jobs are
    /// parked in the error queue until the poison drain can put them back.
    /// </summary>
    /// <value>Default 120 s: longer than a typical S3 brown-out or a MinIO restart.</value>
    [Range(0, 86_400)]
    public double BudgetSeconds { get; set; } = 120;

    /// <value>Default 200 ms, doubled per attempt with jitter, at most <see cref="MaxDelaySeconds"/>.</value>
    [Range(1, 60_000)]
    public int FirstDelayMs { get; set; } = 200;

    /// <value>Default 5 s.</value>
    [Range(0.01, 600)]
    public double MaxDelaySeconds { get; set; } = 5;
}
