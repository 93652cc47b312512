using IngestFleet.Contracts;
using IngestFleet.Messaging;
using IngestFleet.Messaging.Publishing;
using MassTransit;

namespace IngestFleet.Worker.Embedded;

/// <summary>
/// The embedded mode's transport adapter: puts jobs on MassTransit's in-memory queues. The bus serializes them with
/// the raw JSON serializer (the same plain JSON as <see cref="JobPublisher"/> sends over AMQP), and the consumer
/// reads them with the same raw-JSON deserializer, so there is one wire format in both modes.
/// </summary>
public sealed class InMemoryJobPublisher(ISendEndpointProvider endpoints, FleetOptions fleet, TimeProvider time) : IJobPublisher
{
    public async Task<PublishSummary> PublishAsync(IReadOnlyList<EmbedCatalogImage> jobs, Action<int>? progress, CancellationToken cancellationToken)
    {
        var failed = new List<(EmbedCatalogImage, string)>();
        var sendEndpoints = new Dictionary<string, ISendEndpoint>(StringComparer.Ordinal);
        foreach (var priority in jobs.Select(j => j.Priority).Distinct())
            sendEndpoints[priority] = await endpoints.GetSendEndpoint(new Uri($"queue:{fleet.QueueName(priority)}"));
        var now = time.GetUtcNow();
        foreach (var job in jobs)
        {
            try
            {
                await sendEndpoints[job.Priority].Send(job.EnqueuedAt is null ? job with { EnqueuedAt = now } : job, cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                failed.Add((job, e.Message));
            }
            progress?.Invoke(1);
        }
        return new PublishSummary(jobs.Count - failed.Count, failed);
    }
}
