using IngestFleet.Contracts;
using MassTransit;

namespace IngestFleet.Worker.Publishing;

/// <summary>Outcome of a publish: how many jobs the broker confirmed, and why the others were not.</summary>
public sealed record PublishSummary(int Confirmed, IReadOnlyList<(EmbedCatalogImage Job, string Error)> Failed);

/// <summary>
/// Sends jobs to their priority's queue. Each Send completes only when the broker confirms it (MassTransit's
/// RabbitMQ transport publishes with confirms), so a counted job is a stored job; a nack (queue full under
/// reject-publish) or a lost connection is reported per job.
/// </summary>
public sealed class JobPublisher(ISendEndpointProvider endpoints, FleetOptions fleet, TimeProvider time, bool inMemory)
{
    private const int Window = 256;

    public Uri Address(string priority) => new(inMemory ? $"queue:{fleet.QueueName(priority)}" : $"exchange:{fleet.QueueName(priority)}");

    public async Task<PublishSummary> PublishAsync(IReadOnlyList<EmbedCatalogImage> jobs, Action<int>? progress, CancellationToken cancellationToken)
    {
        var confirmed = 0;
        var failed = new List<(EmbedCatalogImage, string)>();
        var sendEndpoints = new Dictionary<string, ISendEndpoint>();
        foreach (var priority in jobs.Select(j => j.Priority).Distinct())
            sendEndpoints[priority] = await endpoints.GetSendEndpoint(Address(priority));
        foreach (var window in jobs.Chunk(Window))
        {
            var now = time.GetUtcNow();
            var sends = window.Select(async job =>
            {
                var stamped = job.EnqueuedAt is null ? job with { EnqueuedAt = now } : job;
                try
                {
                    await sendEndpoints[job.Priority].Send(stamped, ctx => ctx.Durable = true, cancellationToken);
                    return (job, (string?)null);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    return (job, e.Message);
                }
            }).ToArray();
            foreach (var (job, error) in await Task.WhenAll(sends))
            {
                if (error is null) confirmed++;
                else failed.Add((job, error));
            }
            progress?.Invoke(window.Length);
        }
        return new PublishSummary(confirmed, failed);
    }
}
