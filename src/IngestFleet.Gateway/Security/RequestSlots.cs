using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;

namespace IngestFleet.Gateway.Security;

/// <summary>
/// The requests <c>POST /v1/jobs</c> handles at once: at most <see cref="GatewayOptions.MaxConcurrentRequestsPerKey"/> per
/// API key, taken first, then one of <see cref="GatewayOptions.MaxConcurrentRequests"/> for the whole gateway. A key
/// past its own limit is refused before it touches the shared pool, so one key's slow or oversized bodies hold at most
/// its own share of the gateway and never turn another key's request into a 503. Neither limit queues: a request that
/// finds no slot is answered at once.
/// </summary>
public sealed class RequestSlots : IDisposable
{
    private readonly int _perKey;
    private readonly int _total;
    private readonly PartitionedRateLimiter<string> _keys;
    private readonly ConcurrencyLimiter _all;

    public RequestSlots(GatewayOptions options)
    {
        // One key never holds every slot: its share is at most all but one of the gateway's.
        _perKey = Math.Min(options.MaxConcurrentRequestsPerKey, Math.Max(1, options.MaxConcurrentRequests - 1));
        _keys = PartitionedRateLimiter.Create<string, string>(key =>
            RateLimitPartition.GetConcurrencyLimiter(key, _ => new ConcurrencyLimiterOptions { PermitLimit = _perKey, QueueLimit = 0 }));
        _total = options.MaxConcurrentRequests;
        _all = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = _total, QueueLimit = 0 });
    }

    /// <summary>Who a request counts against: its API key, or (anonymous access) its remote address.</summary>
    public static string KeyOf(HttpContext http) =>
        http.User.Identity is { IsAuthenticated: true, Name: { } name } ? "key:" + name : "anonymous:" + http.Connection.RemoteIpAddress;

    public enum Verdict { Entered, KeyBusy, GatewayBusy }

    /// <summary>Takes a slot for the key, then one of the gateway's; the lease (null unless entered) holds both.</summary>
    public (Verdict Verdict, IDisposable? Lease) TryEnter(string key)
    {
        // A gateway of one slot has no share to give a key: the one slot is the gateway's limit (503), not the key's.
        var mine = _perKey < _total ? _keys.AttemptAcquire(key) : null;
        if (mine is { IsAcquired: false })
        {
            mine.Dispose();
            return (Verdict.KeyBusy, null);
        }
        var shared = _all.AttemptAcquire();
        if (!shared.IsAcquired)
        {
            shared.Dispose();
            mine?.Dispose();
            return (Verdict.GatewayBusy, null);
        }
        return (Verdict.Entered, new Both(mine, shared));
    }

    /// <summary>The requests one key may have in progress.</summary>
    public int PerKey => _perKey;

    /// <summary>Requests of this key being handled now.</summary>
    public int InFlight(string key) => _perKey - (int)(_keys.GetStatistics(key)?.CurrentAvailablePermits ?? _perKey);

    /// <summary>Requests being handled now, all keys together.</summary>
    public int InFlightTotal => _total - (int)(_all.GetStatistics()?.CurrentAvailablePermits ?? _total);

    public void Dispose()
    {
        _keys.Dispose();
        _all.Dispose();
    }

    private sealed class Both(RateLimitLease? first, RateLimitLease second) : IDisposable
    {
        public void Dispose()
        {
            second.Dispose();
            first?.Dispose();
        }
    }
}
