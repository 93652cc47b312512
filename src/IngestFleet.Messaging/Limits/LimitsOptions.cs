namespace IngestFleet.Messaging.Limits;

/// <summary>Published limits and shedding. Bound from <c>IngestFleet:Limits</c>.</summary>
public sealed class LimitsOptions
{
    public const string SectionName = "IngestFleet:Limits";

    /// <summary>Per priority class; a class not listed keeps its defaults.</summary>
    public Dictionary<string, QueueLimitSettings> Queues { get; } = new(StringComparer.Ordinal);

    /// <summary>Shard shed ranks inside a queue: shard name, or a prefix ending in <c>*</c>, to a rank. Higher ranks are shed
    /// first; shards not listed rank 0 and are shed last.</summary>
    public Dictionary<string, int> ShardRanks { get; } = new(StringComparer.Ordinal);

    /// <summary>How old a depth sample may be before it is read again from the broker.</summary>
    /// <value>Default 1 s.</value>
    public double SampleIntervalSeconds { get; set; } = 1;

    /// <summary>Whether this process runs the shedder (every fleet worker does by default; one at a time holds the
    /// fleet's shed lock). False: this worker never sheds.</summary>
    /// <value>Default true.</value>
    public bool ShedEnabled { get; set; } = true;

    /// <summary>The share of each queue's published max depth that one tenant's jobs may occupy at the gateway (0–1):
    /// a tenant past it gets 429 while the others are still admitted, so no tenant can fill a class for everybody.
    /// 1 turns the share off (a single-tenant fleet).</summary>
    /// <value>Default 0.5.</value>
    [System.ComponentModel.DataAnnotations.Range(0.001, 1.0)] public double TenantShare { get; set; } = 0.5;

    /// <summary>Per-tenant shares that replace <see cref="TenantShare"/> (tenant id to 0–1).</summary>
    public Dictionary<string, double> TenantShares { get; } = new(StringComparer.Ordinal);

    /// <summary>The share of a queue this tenant's jobs may occupy.</summary>
    public double ShareOf(string tenant) => TenantShares.TryGetValue(tenant, out var share) ? Math.Clamp(share, 0.001, 1.0) : TenantShare;

    /// <summary>How often the shedder checks depths.</summary>
    /// <value>Default 5 s.</value>
    public double ShedIntervalSeconds { get; set; } = 5;
}
