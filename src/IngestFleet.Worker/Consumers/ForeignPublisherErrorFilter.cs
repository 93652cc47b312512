using System.Runtime.ExceptionServices;
using MassTransit;

namespace IngestFleet.Worker.Consumers;

/// <summary>
/// In the error pipe, before MassTransit's move to <c>_error</c>: a message published by another broker user (its
/// <c>user_id</c> is not this worker's user) cannot be copied there as received, because RabbitMQ refuses a publish
/// whose <c>user_id</c> is not the publishing connection's user and closes the channel, taking the rest of the batch's
/// unacked deliveries with it. Such a message is returned to its queue instead (the fault is rethrown, which nacks it
/// with requeue): it is retried, and once past the queue's delivery limit the broker dead-letters it into the poison
/// queue, where the drain records it with its publisher.
/// </summary>
public sealed class ForeignPublisherErrorFilter(string fleetUser) : IFilter<ExceptionReceiveContext>
{
    public async Task Send(ExceptionReceiveContext context, IPipe<ExceptionReceiveContext> next)
    {
        if (context.TryGetPayload(out RabbitMqBasicConsumeContext? amqp) && amqp.Properties.UserId is { Length: > 0 } user && user != fleetUser)
        {
            if (!context.IsFaulted) await context.NotifyFaulted(context.Exception);
            ExceptionDispatchInfo.Capture(context.Exception).Throw();
        }
        await next.Send(context);
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("foreignPublisherRequeue");
}
