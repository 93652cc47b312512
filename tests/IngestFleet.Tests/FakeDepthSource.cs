using IngestFleet.Messaging.Limits;
using Microsoft.Extensions.Time.Testing;

namespace IngestFleet.Tests;

/// <summary>Queue depths set by a test, sampled at the fake clock's time (a new sample each time the clock moves).</summary>
internal sealed class FakeDepthSource(FakeTimeProvider time) : IDepthSource
{
    private readonly Dictionary<string, (long Ready, long Unacked, double AckRate, double Wait)> _queues = new(StringComparer.Ordinal);

    public string? BrokerError { get; set; }

    public int Reads { get; private set; }

    public void Set(string priority, long ready, long unacked = 0, double ackRate = 0, double estimatedWait = 0) =>
        _queues[priority] = (ready, unacked, ackRate, estimatedWait);

    public Task<DepthSnapshot> GetAsync(CancellationToken cancellationToken, bool fresh = false)
    {
        Reads++;
        var now = time.GetUtcNow();
        var samples = _queues.ToDictionary(kv => kv.Key,
            kv => new QueueSample("ingestfleet-" + kv.Key, kv.Value.Ready, kv.Value.Unacked, 1, kv.Value.AckRate, kv.Value.Wait, now), StringComparer.Ordinal);
        return Task.FromResult(new DepthSnapshot(BrokerError is null ? samples : new Dictionary<string, QueueSample>(), BrokerError, now));
    }
}
