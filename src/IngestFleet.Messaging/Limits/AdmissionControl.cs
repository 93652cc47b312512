namespace IngestFleet.Messaging.Limits;

/// <summary>
/// Admission against the published limits: a request is admitted whole or not at all. Between two depth samples the
/// jobs admitted here are added to the sampled depth, so a burst of requests inside one sample interval cannot
/// overshoot the limit. Nothing is buffered: an admitted request is published at once, and a refused one is answered.
/// Each tenant may occupy at most its share of a queue's max depth (<see cref="LimitsOptions.TenantShare"/>): the
/// broker does not count a queue's jobs per tenant, so each tenant's admitted jobs fill a bucket per queue that drains
/// at the queue's sampled ack rate, and a request that would lift the bucket past the share is refused for that tenant.
/// </summary>
public sealed class AdmissionControl(IDepthSource monitor, IReadOnlyList<QueueLimit> limits, LimitsOptions? options = null)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, (DateTimeOffset SampleAt, long Added)> _added = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Tenant, string Priority), (double Level, DateTimeOffset At)> _tenants = [];

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
            foreach (var ((tenant, priority), n) in jobsPerTenant ?? new Dictionary<(string, string), int>())
            {
                if (!snapshot.Queues.TryGetValue(priority, out var sample)) continue;
                var limit = limits.First(l => l.Priority == priority);
                var share = options?.ShareOf(tenant) ?? 1.0;
                if (share >= 1.0) continue;
                var cap = share * limit.MaxDepth;
                var level = TenantLevel(tenant, priority, sample);
                if (level + n > cap)
                {
                    var seconds = sample.AckRate > 0.01 ? (level + n - cap) / sample.AckRate : limit.WaitSloSeconds;
                    return new AdmissionDecision(AdmissionVerdict.OverTenantShare, limit.Queue,
                        $"tenant {tenant} has about {Math.Ceiling(level)} jobs in {limit.Queue}; {n} more would pass its share {share:0.###} of the max depth {limit.MaxDepth} ({Math.Floor(cap)} jobs)",
                        Clamp(seconds));
                }
            }
            foreach (var (priority, n) in jobsPerPriority)
                if (snapshot.Queues.TryGetValue(priority, out var sample))
                {
                    var added = _added.TryGetValue(priority, out var a) && a.SampleAt == sample.SampledAt ? a.Added : 0;
                    _added[priority] = (sample.SampledAt, added + n);
                }
            foreach (var ((tenant, priority), n) in jobsPerTenant ?? new Dictionary<(string, string), int>())
                if (snapshot.Queues.TryGetValue(priority, out var sample))
                    _tenants[(tenant, priority)] = (TenantLevel(tenant, priority, sample) + n, sample.SampledAt);
        }
        return new AdmissionDecision(AdmissionVerdict.Accept, null, "", TimeSpan.Zero);
    }

    /// <summary>The tenant's jobs still counted against its share of the queue: its admitted jobs, drained at the queue's
    /// ack rate since they were admitted, never more than the queue's sampled depth (the queue cannot hold more).</summary>
    private double TenantLevel(string tenant, string priority, QueueSample sample)
    {
        if (!_tenants.TryGetValue((tenant, priority), out var t)) return 0;
        var drained = Math.Max(0, (sample.SampledAt - t.At).TotalSeconds) * sample.AckRate;
        var added = _added.TryGetValue(priority, out var a) && a.SampleAt == sample.SampledAt ? a.Added : 0;
        return Math.Min(Math.Max(0, t.Level - drained), sample.Depth + added);
    }

    /// <summary>Gives back what an admitted request did not get published.</summary>
    public void Release(string priority, int n, string? tenant = null)
    {
        lock (_lock)
        {
            if (_added.TryGetValue(priority, out var a)) _added[priority] = (a.SampleAt, Math.Max(0, a.Added - n));
            if (tenant is not null && _tenants.TryGetValue((tenant, priority), out var t)) _tenants[(tenant, priority)] = (Math.Max(0, t.Level - n), t.At);
        }
    }

    private static TimeSpan Clamp(double seconds) => TimeSpan.FromSeconds(Math.Clamp(Math.Ceiling(seconds), 1, 300));
}
