using IngestFleet.Messaging.Broker;
using IngestFleet.Messaging.Publishing;
using MassTransit;
using RabbitMQ.Client;

namespace IngestFleet.Worker.Consumers;

/// <summary>
/// In the error pipe, before MassTransit's move to <c>_error</c>. A message published by another broker user (its
/// <c>user_id</c> is not this worker's user) cannot be moved there: MassTransit copies its properties as received and
/// RabbitMQ refuses a publish whose <c>user_id</c> is not the publishing connection's user, closing the channel under
/// every other unacked delivery on it. Such a message is instead republished to the tail of its own queue, as the
/// fleet's user on behalf of its publisher (<see cref="PublisherIdentity"/>), confirmed, and the delivery is then acked:
/// the job keeps its identity, is tried once more, and if it fails again MassTransit moves that copy (now the fleet's)
/// to <c>_error</c> like any other, where the poison drain takes over.
/// </summary>
public sealed class ForeignPublisherErrorFilter(BrokerLink broker) : IFilter<ExceptionReceiveContext>
{
    public async Task Send(ExceptionReceiveContext context, IPipe<ExceptionReceiveContext> next)
    {
        if (context.TryGetPayload(out RabbitMqBasicConsumeContext? amqp) && amqp.Properties.UserId is { Length: > 0 } user && user != broker.UserName)
        {
            var queue = context.InputAddress.AbsolutePath.TrimEnd('/').Split('/')[^1];
            var properties = PublisherIdentity.Stamp(new BasicProperties(amqp.Properties), broker.UserName, user);
            await using var channel = await broker.OpenChannelAsync(confirms: true, context.CancellationToken);
            await channel.BasicPublishAsync("", queue, mandatory: true, properties, context.GetBody(), context.CancellationToken);
            return; // handled: not moved to _error and not rethrown, so MassTransit acks the delivery
        }
        await next.Send(context);
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("foreignPublisherRequeue");
}
