using IngestFleet.Contracts;
using IngestFleet.Messaging.Broker;
using RabbitMQ.Client;

namespace IngestFleet.Messaging.Publishing;

/// <summary>
/// Publishes jobs as plain JSON (the documented schema, content type application/json) straight over AMQP with
/// publisher confirms, exactly as a producer in any other language would; the CLI, the gateway and replay all publish
/// through it, and the worker reads nothing else. Each job's result says whether the broker confirmed it: a nack
/// (queue full under reject-publish), an unroutable message or a lost connection is reported per job. Each message
/// carries its publisher's broker identity (AMQP user_id, see <see cref="PublisherIdentity"/>). Publishes go out on the
/// link's shared confirming channels (<see cref="PublisherChannels"/>), so concurrent calls (the gateway's requests)
/// share the broker's confirms instead of each opening a channel.
/// </summary>
public sealed class JobPublisher(BrokerLink broker, RabbitMqOptions rabbit, FleetOptions fleet, TimeProvider time) : IJobPublisher
{
    /// <summary>Jobs in flight (awaiting confirms) at once.</summary>
    private const int Window = 256;

    private volatile bool _declared;

    public async Task<PublishSummary> PublishAsync(IReadOnlyList<EmbedCatalogImage> jobs, Action<int>? progress, CancellationToken cancellationToken)
    {
        if (!_declared)
        {
            // The broker may have been down when this process started, or restarted without the queues: declare first
            // (the one topology), so a confirmed job always has a queue to live in.
            await FleetTopology.DeclareAsync(rabbit, fleet, cancellationToken);
            _declared = true;
        }
        var channel = await broker.PublisherChannels.GetAsync(cancellationToken);
        var failed = new List<(EmbedCatalogImage, string)>();
        foreach (var window in jobs.Chunk(Window))
        {
            var now = time.GetUtcNow();
            var results = await Task.WhenAll(window.Select(job => PublishOneAsync(channel, job, now, cancellationToken)));
            failed.AddRange(results.Where(r => r.Error is not null).Select(r => (r.Job, r.Error!)));
            progress?.Invoke(window.Length);
        }
        if (failed.Count > 0) _declared = false; // declare again next time (cheap, idempotent)
        return new PublishSummary(jobs.Count - failed.Count, failed);
    }

    private async Task<(EmbedCatalogImage Job, string? Error)> PublishOneAsync(IChannel channel, EmbedCatalogImage job, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        var stamped = job.EnqueuedAt is null ? job with { EnqueuedAt = now } : job;
        // user_id binds the job to this connection's broker user (RabbitMQ checks it); a replayed job names the publisher
        // it was first published by, so replay never turns another producer's job into the fleet's own.
        var props = PublisherIdentity.Stamp(new BasicProperties
        {
            Persistent = true,
            ContentType = JobJson.ContentType,
            MessageId = Guid.NewGuid().ToString(),
            Timestamp = new AmqpTimestamp(now.ToUnixTimeSeconds()),
        }, broker.UserName, job.Publisher);
        try
        {
            await channel.BasicPublishAsync(fleet.QueueName(job.Priority), "", mandatory: true, props, JobJson.Serialize(stamped), cancellationToken);
            return (job, null);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return (job, e.Message);
        }
    }
}
