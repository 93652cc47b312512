using IngestFleet.Messaging;
using IngestFleet.Messaging.Broker;
using MassTransit;
using MassTransit.Middleware;
using Microsoft.Extensions.DependencyInjection;

namespace IngestFleet.Worker.Consumers;

/// <summary>
/// The one place that owns the consumer's endpoint policy, for both transports (RabbitMQ and the embedded in-memory
/// one): batch size = message limit, prefetch = batch × batches in flight (that many batches run at once per queue),
/// the batch time limit, raw-JSON jobs
/// only (no MassTransit envelope), the retry policy, and on RabbitMQ the queue arguments of <see cref="FleetTopology"/>
/// (quorum queue, delivery limit, max length with reject-publish), so every party declares the same queue.
/// </summary>
public sealed class EmbedBatchConsumerDefinition : ConsumerDefinition<EmbedBatchConsumer>
{
    private readonly FleetOptions _fleet;

    public EmbedBatchConsumerDefinition(FleetOptions fleet)
    {
        _fleet = fleet;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<EmbedBatchConsumer> consumerConfigurator,
        IRegistrationContext context)
    {
        endpointConfigurator.ConfigureConsumeTopology = false;
        endpointConfigurator.PrefetchCount = _fleet.Prefetch;
        endpointConfigurator.ClearSerialization();
        endpointConfigurator.UseRawJsonSerializer(RawSerializerOptions.AnyMessageType, isDefault: true);
        // Store calls already ride out outages inside the batch (ResilientObjectStore). Past that budget the batch goes
        // straight to the _error queue, where the poison drain puts it back once the store answers: retrying at once
        // would only fetch and embed it again against a store that is still down. Anything else gets three quick retries.
        endpointConfigurator.UseMessageRetry(r =>
        {
            r.Ignore<IngestFleet.Storage.Resilience.StoreUnavailableException>();
            r.Intervals(500, 2000, 5000);
        });
        consumerConfigurator.Options<BatchOptions>(o => o
            .SetMessageLimit(_fleet.BatchSize)
            .SetTimeLimit(ms: _fleet.BatchTimeLimitMs)
            .SetConcurrencyLimit(_fleet.BatchesInFlight));
        if (endpointConfigurator is IRabbitMqReceiveEndpointConfigurator rabbit)
        {
            // MassTransit moves a failed message to _error with its properties as received; the broker refuses that copy
            // when user_id names another producer's user (not this connection's). Those go back to their queue's tail as
            // the fleet's, on their publisher's behalf, and a second failure moves that copy to _error as usual.
            var broker = ((IServiceProvider)context).GetRequiredService<BrokerLink>();
            rabbit.ConfigureError(e =>
            {
                e.UseFilter(new GenerateFaultFilter());
                e.UseFilter(new ForeignPublisherErrorFilter(broker));
                e.UseFilter(new ErrorTransportFilter());
            });
            rabbit.SetQuorumQueue();
            foreach (var (name, value) in FleetTopology.QueueArguments(_fleet).Where(a => a.Key != "x-queue-type"))
                rabbit.SetQueueArgument(name, value);
        }
    }
}
