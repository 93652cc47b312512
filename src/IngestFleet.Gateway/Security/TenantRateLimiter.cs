using System.Threading.RateLimiting;

namespace IngestFleet.Gateway.Security;

/// <summary>A token bucket per tenant (System.Threading.RateLimiting): one job costs one token. Keys that send invalid
/// jobs are charged in a bucket of their own.</summary>
public sealed class TenantRateLimiter(GatewayAuthOptions options, TimeProvider? time = null) : IDisposable
{
    private readonly PartitionedRateLimiter<string> _limiter = PartitionedRateLimiter.Create<string, string>(tenant =>
        RateLimitPartition.GetTokenBucketLimiter(tenant, t => new TokenBucketRateLimiterOptions
        {
            TokenLimit = options.RateOf(t).Burst,
            TokensPerPeriod = options.RateOf(t).JobsPerSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = 0,
            AutoReplenishment = true,
        }));

    /// <summary>Takes <paramref name="jobs"/> tokens from the tenant's bucket (its own rate and burst when
    /// <see cref="GatewayAuthOptions.TenantRates"/> lists it), or says how long until they would be there.</summary>
    public (bool Granted, TimeSpan RetryAfter) TryTake(string tenant, int jobs)
    {
        var (perSecond, burst) = options.RateOf(tenant);
        if (jobs > burst)
            return (false, TimeSpan.FromSeconds(Math.Ceiling((double)jobs / perSecond)));
        using var lease = _limiter.AttemptAcquire(tenant, jobs);
        if (lease.IsAcquired) return (true, TimeSpan.Zero);
        var retry = lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? after : TimeSpan.FromSeconds(Math.Ceiling((double)jobs / perSecond));
        return (false, retry < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : retry);
    }

    /// <summary>Charges a key for <paramref name="jobs"/> invalid jobs (a 400): invalid requests cost their sender as
    /// valid ones cost their tenant, from a bucket of the same size and rate per key (a request takes what is left, so
    /// however the invalid jobs are split across requests the bucket reaches zero).</summary>
    public void Charge(string? key, int jobs)
    {
        if (key is null) return;
        lock (_keys)
        {
            var tokens = KeyTokens(key);
            _keys[key] = (Math.Max(0, tokens - jobs), _time.GetTimestamp());
        }
    }

    /// <summary>Whether a key that sent invalid jobs still has allowance (checked before its body is read).</summary>
    public (bool Granted, TimeSpan RetryAfter) KeyMayPost(string? key)
    {
        if (key is null) return (true, TimeSpan.Zero);
        lock (_keys)
        {
            var tokens = KeyTokens(key);
            return tokens >= 1 ? (true, TimeSpan.Zero) : (false, TimeSpan.FromSeconds(Math.Max(1, Math.Ceiling((1 - tokens) / options.TenantJobsPerSecond))));
        }
    }

    /// <summary>A key's tokens now: its last balance refilled at the tenant rate since then, up to the burst (a key never
    /// charged has a full bucket). Computed on the injected clock, so tests need not race real time.</summary>
    private double KeyTokens(string key)
    {
        if (!_keys.TryGetValue(key, out var last)) return options.TenantBurst;
        var refill = _time.GetElapsedTime(last.At).TotalSeconds * options.TenantJobsPerSecond;
        return Math.Min(options.TenantBurst, last.Tokens + refill);
    }

    private readonly Dictionary<string, (double Tokens, long At)> _keys = new(StringComparer.Ordinal);
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public void Dispose() => _limiter.Dispose();
}
