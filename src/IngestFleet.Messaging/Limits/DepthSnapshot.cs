namespace IngestFleet.Messaging.Limits;

/// <summary>Every queue's sample, or why the broker could not be read.</summary>
public sealed record DepthSnapshot(IReadOnlyDictionary<string, QueueSample> Queues, string? BrokerError, DateTimeOffset At)
{
    public bool BrokerReachable => BrokerError is null;
}
