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

    /// <summary>Charges a key for <paramref name="jobs"/> invalid jobs (a 400): invalid requests cost their sender as
    /// valid ones cost their tenant, from a bucket of the same size per key.</summary>
    public void Charge(string? key, int jobs)
    {
        if (key is null) return;
        // A token bucket grants all or nothing: take what is left when the request asks for more, so the bucket
        // reaches zero (and the key is refused) however the invalid jobs are split across requests.
        var partition = KeyPartition(key);
        var available = _limiter.GetStatistics(partition)?.CurrentAvailablePermits ?? options.TenantBurst;
        var take = (int)Math.Min(Math.Min(jobs, options.TenantBurst), available);
        if (take <= 0) return;
        using var _ = _limiter.AttemptAcquire(partition, take);
    }

    /// <summary>Whether a key that sent invalid jobs still has allowance (checked before its body is read).</summary>
    public (bool Granted, TimeSpan RetryAfter) KeyMayPost(string? key)
    {
        if (key is null) return (true, TimeSpan.Zero);
        using var lease = _limiter.AttemptAcquire(KeyPartition(key), 0);
        return lease.IsAcquired ? (true, TimeSpan.Zero) : (false, TimeSpan.FromSeconds(1));
    }

    private static string KeyPartition(string key) => "\0key:" + key; // no tenant name starts with NUL

    public void Dispose() => _limiter.Dispose();
}
