using IngestFleet.Contracts;

namespace IngestFleet.Messaging.Publishing;

/// <summary>
/// Puts jobs on their priority's queue as plain JSON (<see cref="JobJson"/>), the one wire format. A job counts as
/// published only when the transport confirmed it; everything else is reported per job, never swallowed.
/// The fleet's implementation is <see cref="JobPublisher"/> (RabbitMQ, publisher confirms); the embedded mode's
/// in-memory transport has its own, which sends the same JSON.
/// </summary>
public interface IJobPublisher
{
    Task<PublishSummary> PublishAsync(IReadOnlyList<EmbedCatalogImage> jobs, Action<int>? progress, CancellationToken cancellationToken);
}
