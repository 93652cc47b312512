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
public sealed class RawJobPublisher(BrokerLink broker, FleetOptions fleet, TimeProvider time)
{
    public async Task<PublishSummary> PublishAsync(IReadOnlyList<EmbedCatalogImage> jobs, CancellationToken cancellationToken)
    {
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
        var failed = results.Where(r => r.Item2 is not null).Select(r => (r.job, r.Item2!)).ToList();
        return new PublishSummary(jobs.Count - failed.Count, failed);
    }
}
