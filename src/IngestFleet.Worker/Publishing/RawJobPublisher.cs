using System.Text.Json;
using IngestFleet.Contracts;
using RabbitMQ.Client;

namespace IngestFleet.Worker.Publishing;

/// <summary>
/// Publishes jobs as plain JSON (the documented schema, content type application/json) straight over AMQP with
/// publisher confirms, as any non-.NET producer would; the worker's raw-JSON deserializer reads them. Each job's
/// result says whether the broker confirmed it: a nack (queue full under reject-publish), an unroutable message or
/// a lost connection is reported per job, never swallowed.
/// </summary>
public sealed class RawJobPublisher(BrokerLink broker, RabbitMqOptions rabbit, FleetOptions fleet, TimeProvider time)
{
    private volatile bool _declared;

    public async Task<PublishSummary> PublishAsync(IReadOnlyList<EmbedCatalogImage> jobs, CancellationToken cancellationToken)
    {
        if (!_declared)
        {
            // The broker may have been down when the gateway started, or restarted without the queues: declare first
            // (same arguments as the workers), so a confirmed job always has a queue to live in.
            await FleetTopology.DeclareAsync(rabbit, fleet, cancellationToken);
            _declared = true;
        }
        await using var channel = await broker.OpenChannelAsync(confirms: true, cancellationToken);
        var now = time.GetUtcNow();
        var sends = jobs.Select(async job =>
        {
            var stamped = job.EnqueuedAt is null ? job with { EnqueuedAt = now } : job;
            var props = new BasicProperties
            {
                Persistent = true,
                ContentType = "application/json",
                MessageId = Guid.NewGuid().ToString(),
                Timestamp = new AmqpTimestamp(now.ToUnixTimeSeconds()),
            };
            try
            {
                await channel.BasicPublishAsync(fleet.QueueName(job.Priority), "", mandatory: true, props, JsonSerializer.SerializeToUtf8Bytes(stamped), cancellationToken);
                return (job, (string?)null);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                return (job, e.Message);
            }
        }).ToArray();
        var results = await Task.WhenAll(sends);
        if (results.Any(r => r.Item2 is not null)) _declared = false; // declare again next time (cheap, idempotent)
        var failed = results.Where(r => r.Item2 is not null).Select(r => (r.job, r.Item2!)).ToList();
        return new PublishSummary(jobs.Count - failed.Count, failed);
    }
}
