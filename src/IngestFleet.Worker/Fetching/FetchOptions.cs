using System.ComponentModel.DataAnnotations;

namespace IngestFleet.Worker.Fetching;

/// <summary>Fetch limits. Bound from <c>IngestFleet:Fetch</c>.</summary>
public sealed class FetchOptions
{
    public const string SectionName = "IngestFleet:Fetch";

    /// <value>Default 32 MiB, the same as the preprocessing byte limit.</value>
    [Range(1, long.MaxValue)]
    public long MaxBytes { get; set; } = 32L * 1024 * 1024;

    /// <value>Default 15 s per image, connect included.</value>
    [Range(1, 3600)]
    public int TimeoutSeconds { get; set; } = 15;

    /// <summary>Hosts allowed for https:// images; empty allows any public host (private ranges are always refused).</summary>
    public string[] AllowedHosts { get; set; } = [];

    /// <summary>file:// sources. Not a setting: the host sets it (on in the embedded single-process mode, off in a fleet
    /// worker) whatever configuration says.</summary>
    public bool AllowFileScheme { get; set; }

    /// <summary>Connections open at once to one host, so one slow host cannot take every fetch slot.</summary>
    /// <value>Default 8.</value>
    [Range(1, 256)]
    public int MaxConnectionsPerHost { get; set; } = 8;

    /// <value>Default 3 redirects, each re-checked by the SSRF guard.</value>
    [Range(0, 20)]
    public int MaxRedirects { get; set; } = 3;

    /// <summary>
    /// Retries of one image after a transient fault (5xx, 429, 408, a timeout, a refused or reset connection, an S3
    /// SlowDown), with exponential backoff and jitter from <see cref="RetryDelayMs"/> up to <see cref="MaxRetryDelayMs"/>,
    /// while the item's time since its first attempt is under <see cref="TransientBudgetSeconds"/>. Past either, the
    /// item is dead-lettered <c>transient_exhausted</c> with the last error. Permanent faults (404, 403, an undecodable
    /// image) are never retried. Worst case per item: the budget plus one <see cref="TimeoutSeconds"/>.
    /// </summary>
    /// <value>Default 8: with the default delays, about 45 s of backoff, enough to ride out a short S3 or CDN outage.</value>
    [Range(0, 50)]
    public int TransientRetries { get; set; } = 8;

    /// <value>Default 500 ms before the first retry, doubled per retry, with jitter.</value>
    [Range(1, 60_000)]
    public int RetryDelayMs { get; set; } = 500;

    /// <value>Default 10 s: the longest wait between two attempts.</value>
    [Range(1, 600_000)]
    public int MaxRetryDelayMs { get; set; } = 10_000;

    /// <value>Default 60 s: no retry starts later than this after the first attempt.</value>
    [Range(0, 3600)]
    public double TransientBudgetSeconds { get; set; } = 60;

    /// <summary>
    /// How long a batch waits for one item's fetch (retries included, once the item has a fetch slot) before it goes on
    /// without it. A fleet worker puts such an item back at the tail of its queue (confirmed before anything of the batch
    /// is written or acked, header <c>x-ingestfleet-deferred-since</c>) and writes the rest of the batch; the item is
    /// fetched again later, from where its transient budget stood, and once <see cref="TransientBudgetSeconds"/> have
    /// passed since its first attempt it is dead-lettered <c>transient_exhausted</c>. So one slow or dead host costs its batch-mates at most
    /// this long, not the whole transient budget. 0: a batch waits for every item (the embedded mode always does).
    /// </summary>
    /// <value>Default 20 s: one full attempt (<see cref="TimeoutSeconds"/>) and a quick retry.</value>
    [Range(0, 3600)]
    public double ItemBudgetSeconds { get; set; } = 20;

    /// <summary>
    /// Test-only: admits https:// to 127.0.0.1 / ::1 (nothing else private) and trusts a loopback server's certificate,
    /// so the fault suite can run a hostile HTTPS server on this machine. Never set it on a node: the worker logs a
    /// warning at start-up and <c>node doctor</c> reports the node unfit while it is on.
    /// </summary>
    public bool TestOnlyAllowLoopback { get; set; }
}
