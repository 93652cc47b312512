namespace IngestFleet.Messaging.Limits;

/// <summary>
/// Admission against the published limits: a request is admitted whole or not at all. Between two depth samples the
/// jobs admitted here are added to the sampled depth, so a burst of requests inside one sample interval cannot
/// overshoot the limit. Nothing is buffered: an admitted request is published at once, and a refused one is answered.
/// Each tenant may occupy at most its share of a queue's max depth (<see cref="LimitsOptions.TenantShare"/>): the
/// broker does not count a queue's jobs per tenant, so each tenant's admitted jobs fill a bucket per queue that drains
/// by the part of the queue's sampled acks that reached the tenant's jobs, and a request that would lift the bucket past the share is
/// refused for that tenant. Each gateway replica counts its own admissions (the chart divides the share by the replicas).
/// </summary>
public sealed class AdmissionControl(IDepthSource monitor, IReadOnlyList<QueueLimit> limits, LimitsOptions? options = null)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, (DateTimeOffset SampleAt, long Added)> _added = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Tenant, string Priority), (double Level, DateTimeOffset At, double Depth)> _tenants = [];
    private static readonly Dictionary<(string Tenant, string Priority), int> NoTenants = [];

    public IReadOnlyList<QueueLimit> Limits => limits;

    /// <param name="jobsPerPriority">The request's jobs per priority class.</param>
    /// <param name="jobsPerTenant">The same jobs per (tenant, class), checked against each tenant's share; null: no tenant check.</param>
    /// <param name="cancellationToken">Cancels the depth read.</param>
    public async Task<AdmissionDecision> TryAdmitAsync(IReadOnlyDictionary<string, int> jobsPerPriority, CancellationToken cancellationToken,
        IReadOnlyDictionary<(string Tenant, string Priority), int>? jobsPerTenant = null)
    {
        var snapshot = await monitor.GetAsync(cancellationToken);
        if (!snapshot.BrokerReachable)
            return new AdmissionDecision(AdmissionVerdict.BrokerDown, null, snapshot.BrokerError!, TimeSpan.FromSeconds(5));
        lock (_lock)
        {
            foreach (var (priority, n) in jobsPerPriority)
            {
                var limit = limits.First(l => l.Priority == priority);
                if (!snapshot.Queues.TryGetValue(priority, out var sample)) continue;
                var added = _added.TryGetValue(priority, out var a) && a.SampleAt == sample.SampledAt ? a.Added : 0;
                var depth = sample.Depth + added;
                if (depth + n > limit.MaxDepth)
                {
                    var excess = depth + n - limit.MaxDepth;
                    var seconds = sample.AckRate > 0.01 ? excess / sample.AckRate : limit.WaitSloSeconds;
                    return new AdmissionDecision(AdmissionVerdict.OverLimit, limit.Queue,
                        $"queue {limit.Queue} holds {depth} jobs; {n} more would pass its published max depth {limit.MaxDepth}", Clamp(seconds));
                }
                if (sample.EstimatedWaitSeconds > limit.WaitSloSeconds) // -1 (unknown) never trips it
                    return new AdmissionDecision(AdmissionVerdict.OverLimit, limit.Queue,
                        $"queue {limit.Queue}: estimated wait {sample.EstimatedWaitSeconds:F1} s is past its published SLO {limit.WaitSloSeconds:F1} s",
                        Clamp(sample.EstimatedWaitSeconds - limit.WaitSloSeconds));
            }
            var perTenant = jobsPerTenant ?? NoTenants;
            var levels = new Dictionary<(string Tenant, string Priority), double>();
            foreach (var ((tenant, priority), n) in perTenant)
            {
                if (!snapshot.Queues.TryGetValue(priority, out var sample)) continue;
                var level = levels[(tenant, priority)] = TenantLevel(tenant, priority, sample);
                if (TenantCap(tenant, priority) is not { } cap || level + n <= cap) continue;
                var limit = limits.First(l => l.Priority == priority);
                var seconds = sample.AckRate > 0.01 ? (level + n - cap) / sample.AckRate : limit.WaitSloSeconds;
                return new AdmissionDecision(AdmissionVerdict.OverTenantShare, limit.Queue,
                    $"tenant {tenant} has about {Math.Ceiling(level)} jobs in {limit.Queue}; {n} more would pass its share {options!.ShareOf(tenant):0.###} of the max depth {limit.MaxDepth} ({Math.Floor(cap)} jobs)",
                    Clamp(seconds));
            }
            foreach (var (priority, n) in jobsPerPriority)
                if (snapshot.Queues.TryGetValue(priority, out var sample))
                {
                    var added = _added.TryGetValue(priority, out var a) && a.SampleAt == sample.SampledAt ? a.Added : 0;
                    _added[priority] = (sample.SampledAt, added + n);
                }
            // The level measured before this request, plus this request (re-measuring now would count it twice).
            foreach (var ((tenant, priority), n) in perTenant)
                if (snapshot.Queues.TryGetValue(priority, out var sample))
                    _tenants[(tenant, priority)] = (levels[(tenant, priority)] + n, sample.SampledAt, sample.Depth + _added[priority].Added);
        }
        return new AdmissionDecision(AdmissionVerdict.Accept, null, "", TimeSpan.Zero);
    }

    /// <summary>The most jobs this tenant may have in the class's queue (its share of the max depth), or null when its
    /// share is 1 (no cap beyond the queue's own). A request for more than this can never be admitted.</summary>
    public double? TenantCap(string tenant, string priority)
    {
        var share = options?.ShareOf(tenant) ?? 1.0;
        return share >= 1.0 ? null : share * limits.First(l => l.Priority == priority).MaxDepth;
    }

    /// <summary>The tenant's jobs still counted against its share of the queue: its admitted jobs less its part of what the
    /// queue acked since (jobs leave in order, so of the queue's depth at the tenant's last admission, the acked fraction of
    /// the tenant's jobs is gone), never more than the queue's sampled depth (the queue cannot hold more).</summary>
    private double TenantLevel(string tenant, string priority, QueueSample sample)
    {
        if (!_tenants.TryGetValue((tenant, priority), out var t)) return 0;
        var added = _added.TryGetValue(priority, out var a) && a.SampleAt == sample.SampledAt ? a.Added : 0;
        var acked = Math.Max(0, (sample.SampledAt - t.At).TotalSeconds) * sample.AckRate;
        var left = t.Level * (1 - Math.Min(1, acked / Math.Max(1, t.Depth)));
        return Math.Min(left, sample.Depth + added);
    }

    /// <summary>Gives back what an admitted request did not get published.</summary>
    public void Release(string priority, int n, string? tenant = null)
    {
        lock (_lock)
        {
            if (_added.TryGetValue(priority, out var a)) _added[priority] = (a.SampleAt, Math.Max(0, a.Added - n));
            if (tenant is not null && _tenants.TryGetValue((tenant, priority), out var t)) _tenants[(tenant, priority)] = (Math.Max(0, t.Level - n), t.At, t.Depth);
        }
    }

    private static TimeSpan Clamp(double seconds) => TimeSpan.FromSeconds(Math.Clamp(Math.Ceiling(seconds), 1, 300));
}
