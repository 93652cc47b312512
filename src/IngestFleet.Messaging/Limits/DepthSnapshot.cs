namespace IngestFleet.Messaging.Limits;

/// <summary>Every queue's sample, or why the broker could not be read.</summary>
public sealed record DepthSnapshot(IReadOnlyDictionary<string, QueueSample> Queues, string? BrokerError, DateTimeOffset At)
{
    public bool BrokerReachable => BrokerError is null;

    /// <summary>Messages waiting in the poison queue and in MassTransit's <c>_error</c> / <c>_skipped</c> queues that
    /// exist, by queue name (the poison drain turns them into dead-letter records).</summary>
    public IReadOnlyDictionary<string, long> Parked { get; init; } = new Dictionary<string, long>(StringComparer.Ordinal);
}
