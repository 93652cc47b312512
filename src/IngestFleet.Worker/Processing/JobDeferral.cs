using IngestFleet.Contracts;
using IngestFleet.Messaging;
using IngestFleet.Messaging.Broker;
using IngestFleet.Messaging.Publishing;
using RabbitMQ.Client;

namespace IngestFleet.Worker.Processing;

/// <summary>Puts jobs back at the tail of their queue, for a batch that goes on without them.</summary>
public interface IJobDeferral
{
    /// <summary>Returns once the broker confirmed every job (the batch is acked after this); throws otherwise, and then
    /// the whole batch is retried.</summary>
    /// <param name="jobs">Each job with the time of its first fetch attempt (on its first delivery).</param>
    Task DeferAsync(IReadOnlyList<(EmbedCatalogImage Job, DateTimeOffset Since)> jobs, string priority, CancellationToken cancellationToken);
}

/// <summary>
/// The fleet's deferral: republishes a job (as the plain-JSON body every publisher sends) to its class's queue with a
/// broker confirm, as the fleet's broker user on behalf of the job's publisher, and records in
/// <see cref="DeferredSinceHeader"/> when it was first tried, so the item's transient budget runs on across deliveries.
/// </summary>
public sealed class BrokerJobDeferral(BrokerLink broker, FleetOptions fleet) : IJobDeferral
{
    public const string DeferredSinceHeader = "x-ingestfleet-deferred-since";

    public async Task DeferAsync(IReadOnlyList<(EmbedCatalogImage Job, DateTimeOffset Since)> jobs, string priority, CancellationToken cancellationToken)
    {
        if (jobs.Count == 0) return;
        await using var channel = await broker.OpenChannelAsync(confirms: true, cancellationToken);
        foreach (var (job, first) in jobs)
        {
            var properties = PublisherIdentity.Stamp(new BasicProperties
            {
                Persistent = true,
                ContentType = JobJson.ContentType,
                MessageId = Guid.NewGuid().ToString(),
                Headers = new Dictionary<string, object?> { [DeferredSinceHeader] = first.ToUnixTimeMilliseconds() },
            }, broker.UserName, job.Publisher ?? "");
            // With confirms on, the publish returns once the broker confirmed it (and throws on a nack or a return).
            await channel.BasicPublishAsync("", fleet.QueueName(priority), mandatory: true, properties, JobJson.Serialize(job), cancellationToken);
        }
    }

    /// <summary>When a deferred message's item was first tried: only from a message the fleet's own user published (a
    /// producer's header is ignored, as for the publisher header) and only a time the clock can hold; null otherwise.</summary>
    public static DateTimeOffset? DeferredSinceOf(IReadOnlyBasicProperties properties, string fleetUser)
    {
        if (properties.UserId != fleetUser || properties.Headers is not { } headers || !headers.TryGetValue(DeferredSinceHeader, out var value)
            || value is not (long or int)) return null;
        var ms = Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture);
        return ms >= 0 && ms <= DateTimeOffset.MaxValue.ToUnixTimeMilliseconds() ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;
    }
}
