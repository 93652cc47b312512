namespace IngestFleet.Messaging.Limits;

/// <summary>Where queue depths come from: the broker (<see cref="QueueMonitor"/>) in the fleet, a fake in unit tests
/// of admission and shedding arithmetic.</summary>
public interface IDepthSource
{
    /// <summary>A snapshot no older than the sample interval; <paramref name="fresh"/> reads the broker now.</summary>
    Task<DepthSnapshot> GetAsync(CancellationToken cancellationToken, bool fresh = false);
}
