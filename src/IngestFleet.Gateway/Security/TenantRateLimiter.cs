using System.Threading.RateLimiting;

namespace IngestFleet.Gateway.Security;

/// <summary>A token bucket per tenant (System.Threading.RateLimiting): one job costs one token.</summary>
public sealed class TenantRateLimiter(GatewayAuthOptions options) : IDisposable
{
    private readonly PartitionedRateLimiter<string> _limiter = PartitionedRateLimiter.Create<string, string>(tenant =>
        RateLimitPartition.GetTokenBucketLimiter(tenant, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = options.TenantBurst,
            TokensPerPeriod = options.TenantJobsPerSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = 0,
            AutoReplenishment = true,
        }));

    /// <summary>Takes <paramref name="jobs"/> tokens from the tenant's bucket, or says how long until they would be there.</summary>
    public (bool Granted, TimeSpan RetryAfter) TryTake(string tenant, int jobs)
    {
        if (jobs > options.TenantBurst)
            return (false, TimeSpan.FromSeconds(Math.Ceiling((double)jobs / options.TenantJobsPerSecond)));
        using var lease = _limiter.AttemptAcquire(tenant, jobs);
        if (lease.IsAcquired) return (true, TimeSpan.Zero);
        var retry = lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? after : TimeSpan.FromSeconds(Math.Ceiling((double)jobs / options.TenantJobsPerSecond));
        return (false, retry < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : retry);
    }

    public void Dispose() => _limiter.Dispose();
}
