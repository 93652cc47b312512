using RabbitMQ.Client;

namespace IngestFleet.Messaging.Broker;

/// <summary>
/// The queues the fleet owns, with their arguments in one place. Workers declare them through MassTransit's receive
/// endpoints and producers through <see cref="DeclareAsync"/> (so a publish before any worker started is not lost);
/// both use these exact arguments, so the broker sees one definition.
/// Queue {prefix}{priority}: durable quorum queue; exchange of the same name (fanout, durable) bound to it. A message
/// redelivered past the delivery limit (workers crashing on it) is not deleted by the broker: it is dead-lettered,
/// at least once, through the exchange {prefix}poison into the queue {prefix}poison, which workers turn into
/// dead-letter records in S3 (<see cref="Poison.PoisonDrain"/>).
/// The poison queue itself is a quorum queue with an explicit delivery limit (<see cref="FleetOptions.PoisonDeliveryLimit"/>)
/// and its own dead-letter target, the classic queue {prefix}poison-overflow: RabbitMQ 4.x gives every quorum queue a
/// delivery limit of 20 by default and drops a message past it unless the queue dead-letters it, and delivery limits
/// are a quorum-queue feature (a classic queue never drops a message for being returned), so on 3.x and 4.x alike a
/// message reaches a queue the drain reads and is never deleted by the broker.
/// </summary>
public static class FleetTopology
{
    public static Dictionary<string, object?> QueueArguments(FleetOptions o) => new()
    {
        ["x-queue-type"] = "quorum",
        ["x-delivery-limit"] = o.DeliveryLimit,
        ["x-max-length"] = o.MaxQueueLength,
        ["x-overflow"] = "reject-publish",
        ["x-dead-letter-exchange"] = PoisonName(o),
        ["x-dead-letter-strategy"] = "at-least-once",
    };

    /// <summary>The dead-letter exchange and queue of the fleet's work queues.</summary>
    public static string PoisonName(FleetOptions o) => o.QueuePrefix + "poison";

    /// <summary>The poison queue's own dead-letter exchange and (classic) queue.</summary>
    public static string PoisonOverflowName(FleetOptions o) => o.QueuePrefix + "poison-overflow";

    /// <summary>The poison queue's arguments: quorum, an explicit delivery limit, dead-lettered at least once to the
    /// overflow queue (at-least-once dead-lettering needs reject-publish overflow).</summary>
    public static Dictionary<string, object?> PoisonQueueArguments(FleetOptions o) => new()
    {
        ["x-queue-type"] = "quorum",
        ["x-delivery-limit"] = o.PoisonDeliveryLimit,
        ["x-overflow"] = "reject-publish",
        ["x-dead-letter-exchange"] = PoisonOverflowName(o),
        ["x-dead-letter-strategy"] = "at-least-once",
    };

    /// <summary>Where messages the fleet did not finish wait: the poison queue and its overflow, and MassTransit's
    /// <c>_error</c> and <c>_skipped</c> queues of each work queue (these exist only once MassTransit has used them).</summary>
    public static IEnumerable<string> ParkedQueueNames(FleetOptions o) =>
        o.QueueNames().SelectMany(q => new[] { q + "_error", q + "_skipped" }).Prepend(PoisonOverflowName(o)).Prepend(PoisonName(o));

    /// <summary>Declares the poison exchange and queue and their overflow (idempotent); before any work queue, so
    /// nothing is dead-lettered into an exchange that does not exist yet.</summary>
    public static async Task DeclarePoisonAsync(IChannel channel, FleetOptions fleet, CancellationToken cancellationToken)
    {
        var overflow = PoisonOverflowName(fleet);
        await channel.ExchangeDeclareAsync(overflow, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: cancellationToken);
        await channel.QueueDeclareAsync(overflow, durable: true, exclusive: false, autoDelete: false,
            arguments: new Dictionary<string, object?> { ["x-queue-type"] = "classic" }, cancellationToken: cancellationToken);
        await channel.QueueBindAsync(overflow, overflow, "", cancellationToken: cancellationToken);
        var name = PoisonName(fleet);
        await channel.ExchangeDeclareAsync(name, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: cancellationToken);
        try
        {
            await channel.QueueDeclareAsync(name, durable: true, exclusive: false, autoDelete: false, arguments: PoisonQueueArguments(fleet), cancellationToken: cancellationToken);
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 406)
        {
            throw new InvalidOperationException(
                $"the queue {name} exists with other arguments (an earlier IngestFleet build declared it without a delivery limit, so RabbitMQ 4.x " +
                $"could drop from it): with the producers stopped, let the old workers' poison drain empty it (its depth reaches 0), stop them, delete it " +
                $"(rabbitmqctl delete_queue {name}) and start the new workers; they declare it with a delivery limit and an overflow queue", e);
        }
        await channel.QueueBindAsync(name, name, "", cancellationToken: cancellationToken);
    }

    public static async Task DeclareAsync(RabbitMqOptions rabbit, FleetOptions fleet, CancellationToken cancellationToken)
    {
        var factory = new ConnectionFactory { Uri = new Uri(rabbit.Uri), ClientProvidedName = "ingestfleet-topology", RequestedConnectionTimeout = TimeSpan.FromSeconds(5) };
        await using var connection = await factory.CreateConnectionAsync(cancellationToken);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        await DeclarePoisonAsync(channel, fleet, cancellationToken);
        foreach (var priority in fleet.Priorities)
        {
            var name = fleet.QueueName(priority);
            await channel.ExchangeDeclareAsync(name, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: cancellationToken);
            await channel.QueueDeclareAsync(name, durable: true, exclusive: false, autoDelete: false, arguments: QueueArguments(fleet), cancellationToken: cancellationToken);
            await channel.QueueBindAsync(name, name, "", cancellationToken: cancellationToken);
        }
    }
}
