using IngestFleet.Contracts;
using IngestFleet.Messaging;
using IngestFleet.Messaging.Poison;
using IngestFleet.Messaging.Publishing;
using IngestFleet.Worker.Processing;
using MassTransit;

namespace IngestFleet.Worker.Consumers;

/// <summary>
/// Consumes up to <see cref="FleetOptions.BatchSize"/> jobs at a time from one priority queue (policy in
/// <see cref="EmbedBatchConsumerDefinition"/>). Each message body is checked against the job schema as received
/// (unknown fields, a missing priority: what the deserialized record would hide), so the worker refuses exactly what
/// the gateway refuses. Per-item failures are dead-lettered inside <see cref="BatchProcessor"/> and the batch
/// completes (and is acked) normally; only an infrastructure failure (the store is down) throws, and then the whole
/// batch is retried. The batch is not abandoned when the host stops: it is short (seconds) and finishing it is
/// cheaper than redoing it, so the stop token is not passed into the work; the drain budget covers it.
/// </summary>
public sealed class EmbedBatchConsumer(BatchProcessor processor, FleetOptions fleet, RabbitMqOptions rabbit) : IConsumer<Batch<EmbedCatalogImage>>
{
    private readonly string _fleetUser = PublisherIdentity.UserOf(new Uri(rabbit.Uri));

    public async Task Consume(ConsumeContext<Batch<EmbedCatalogImage>> context)
    {
        // Each job carries its publisher's broker identity (AMQP user_id, checked by RabbitMQ); the processor refuses a
        // job whose publisher may not act for its tenant. The in-memory transport of the embedded mode has none.
        var jobs = context.Message.Select(m => m.ReceiveContext.TryGetPayload<RabbitMqBasicConsumeContext>(out var amqp)
            ? m.Message with
            {
                Publisher = PublisherIdentity.PublisherOf(amqp.Properties, _fleetUser) ?? "",
                DeferredSince = BrokerJobDeferral.DeferredSinceOf(amqp.Properties, _fleetUser),
            }
            : m.Message).ToArray();
        var schema = context.Message.Select(m => JobSchema.Evaluate(m.ReceiveContext.Body.GetBytes())).ToArray();
        // A redelivered job, or one the poison drain put back after a store outage, may already have its vector: the
        // processor looks before fetching, so finished items are not fetched and embedded again.
        var mayBeDone = context.Message.Select(m => m.ReceiveContext.Redelivered || m.Headers.TryGetHeader(PoisonDrain.ParkedHeader, out _)).ToArray();
        await processor.ProcessAsync(jobs, PriorityOf(context.ReceiveContext.InputAddress), CancellationToken.None, schema, mayBeDone);
    }

    /// <summary>The batch's class is the queue it came from (not the jobs' own field, which a producer could get wrong).</summary>
    private string PriorityOf(Uri inputAddress)
    {
        var queue = inputAddress.AbsolutePath.TrimEnd('/').Split('/')[^1];
        return fleet.Priorities.FirstOrDefault(p => fleet.QueueName(p) == queue) ?? fleet.Priorities[^1];
    }
}
