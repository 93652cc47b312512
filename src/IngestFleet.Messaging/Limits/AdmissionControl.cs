namespace IngestFleet.Messaging.Limits;

/// <summary>
/// Admission against the published limits: a request is admitted whole or not at all. Between two depth samples the
/// jobs admitted here are added to the sampled depth, so a burst of requests inside one sample interval cannot
/// overshoot the limit. Nothing is buffered: an admitted request is published at once, and a refused one is answered.
/// </summary>
public sealed class AdmissionControl(IDepthSource monitor, IReadOnlyList<QueueLimit> limits)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, (DateTimeOffset SampleAt, long Added)> _added = new(StringComparer.Ordinal);

    public IReadOnlyList<QueueLimit> Limits => limits;

    public async Task<AdmissionDecision> TryAdmitAsync(IReadOnlyDictionary<string, int> jobsPerPriority, CancellationToken cancellationToken)
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
            foreach (var (priority, n) in jobsPerPriority)
                if (snapshot.Queues.TryGetValue(priority, out var sample))
                {
                    var added = _added.TryGetValue(priority, out var a) && a.SampleAt == sample.SampledAt ? a.Added : 0;
                    _added[priority] = (sample.SampledAt, added + n);
                }
        }
        return new AdmissionDecision(AdmissionVerdict.Accept, null, "", TimeSpan.Zero);
    }

    /// <summary>Gives back what an admitted request did not get published.</summary>
    public void Release(string priority, int n)
    {
        lock (_lock)
            if (_added.TryGetValue(priority, out var a)) _added[priority] = (a.SampleAt, Math.Max(0, a.Added - n));
    }

    private static TimeSpan Clamp(double seconds) => TimeSpan.FromSeconds(Math.Clamp(Math.Ceiling(seconds), 1, 300));
}
