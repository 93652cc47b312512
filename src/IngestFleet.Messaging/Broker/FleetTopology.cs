using RabbitMQ.Client;

namespace IngestFleet.Messaging.Broker;

/// <summary>
/// The queues the fleet owns, with their arguments in one place. Workers declare them through MassTransit's receive
/// endpoints and producers through <see cref="DeclareAsync"/> (so a publish before any worker started is not lost);
/// both use these exact arguments, so the broker sees one definition.
/// Queue {prefix}{priority}: durable quorum queue, created with <see cref="FleetOptions.QuorumInitialGroupSize"/> replicas
/// (3 by default: every queue survives the loss of one node of a 3-node cluster; a smaller cluster gives it one per node);
/// exchange of the same name (fanout, durable) bound to it. A message
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
    public static Dictionary<string, object?> QueueArguments(FleetOptions o) => WithGroupSize(o, new()
    {
        ["x-queue-type"] = "quorum",
        ["x-delivery-limit"] = o.DeliveryLimit,
        ["x-max-length"] = o.MaxQueueLength,
        ["x-overflow"] = "reject-publish",
        ["x-dead-letter-exchange"] = PoisonName(o),
        ["x-dead-letter-strategy"] = "at-least-once",
    });

    private static Dictionary<string, object?> WithGroupSize(FleetOptions o, Dictionary<string, object?> arguments)
    {
        if (o.QuorumInitialGroupSize > 0) arguments["x-quorum-initial-group-size"] = o.QuorumInitialGroupSize;
        return arguments;
    }

    /// <summary>
    /// A revision's query queue (<see cref="FleetOptions.QueryQueueName"/>): a quorum queue (it outlives a broker node, as
    /// the work queues do) capped at <see cref="FleetOptions.QueryQueueMaxLength"/> with reject-publish, so a full queue
    /// answers the gateway's publish with a nack (429) at once. Queries carry a per-message TTL (their deadline), which
    /// quorum queues honour (RabbitMQ 3.10+): a query nobody could answer in time leaves the queue unanswered, and the
    /// caller, who stopped waiting at the deadline, had its 504. Queries are not items: nothing is dead-lettered.
    /// </summary>
    public static async Task DeclareQueryQueueAsync(IChannel channel, FleetOptions fleet, string revision, CancellationToken cancellationToken) =>
        await channel.QueueDeclareAsync(fleet.QueryQueueName(revision), durable: true, exclusive: false, autoDelete: false,
            arguments: WithGroupSize(fleet, new()
            {
                ["x-queue-type"] = "quorum",
                ["x-max-length"] = fleet.QueryQueueMaxLength,
                ["x-overflow"] = "reject-publish",
                ["x-delivery-limit"] = fleet.DeliveryLimit,
            }), cancellationToken: cancellationToken);

    /// <summary>The dead-letter exchange and queue of the fleet's work queues.</summary>
    public static string PoisonName(FleetOptions o) => o.QueuePrefix + "poison";

    /// <summary>The poison queue's own dead-letter exchange and (classic) queue.</summary>
    public static string PoisonOverflowName(FleetOptions o) => o.QueuePrefix + "poison-overflow";

    /// <summary>The poison queue's arguments: quorum, an explicit delivery limit, dead-lettered at least once to the
    /// overflow queue (at-least-once dead-lettering needs reject-publish overflow).</summary>
    public static Dictionary<string, object?> PoisonQueueArguments(FleetOptions o) => WithGroupSize(o, new()
    {
        ["x-queue-type"] = "quorum",
        ["x-delivery-limit"] = o.PoisonDeliveryLimit,
        ["x-overflow"] = "reject-publish",
        ["x-dead-letter-exchange"] = PoisonOverflowName(o),
        ["x-dead-letter-strategy"] = "at-least-once",
    });

    /// <summary>Where messages the fleet did not finish wait: the poison queue and its overflow, and MassTransit's
    /// <c>_error</c> and <c>_skipped</c> queues of each work queue (these exist only once MassTransit has used them).</summary>
    public static IEnumerable<string> ParkedQueueNames(FleetOptions o) =>
        o.QueueNames().SelectMany(q => new[] { q + "_error", q + "_skipped" }).Prepend(PoisonOverflowName(o)).Prepend(PoisonName(o));

    /// <summary>Declares the poison exchange and queue and their overflow (idempotent); before any work queue, so
    /// nothing is dead-lettered into an exchange that does not exist yet. The overflow is a classic queue, which lives on
    /// one node: while that node is down RabbitMQ answers its declaration with 404 (home node down) and closes the
    /// channel. That is not a reason to stop a worker on a cluster (the poison queue's at-least-once dead-lettering holds
    /// a message until the overflow takes it), so this returns false then, and the caller opens a new channel.</summary>
    public static async Task<bool> DeclarePoisonAsync(IChannel channel, FleetOptions fleet, CancellationToken cancellationToken)
    {
        var overflow = PoisonOverflowName(fleet);
        await channel.ExchangeDeclareAsync(overflow, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: cancellationToken);
        var name = PoisonName(fleet);
        await channel.ExchangeDeclareAsync(name, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: cancellationToken);
        try
        {
            await DeclareQuorumQueueAsync(channel, name, PoisonQueueArguments(fleet), fleet, cancellationToken);
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 406)
        {
            throw new InvalidOperationException(
                $"the queue {name} exists with other arguments (an earlier IngestFleet build declared it without a delivery limit, so RabbitMQ 4.x " +
                $"could drop from it): with the producers stopped, let the old workers' poison drain empty it (its depth reaches 0), stop them, delete it " +
                $"(rabbitmqctl delete_queue {name}) and start the new workers; they declare it with a delivery limit and an overflow queue", e);
        }
        await channel.QueueBindAsync(name, name, "", cancellationToken: cancellationToken);
        try
        {
            await channel.QueueDeclareAsync(overflow, durable: true, exclusive: false, autoDelete: false,
                arguments: new Dictionary<string, object?> { ["x-queue-type"] = "classic" }, cancellationToken: cancellationToken);
            await channel.QueueBindAsync(overflow, overflow, "", cancellationToken: cancellationToken);
            return true;
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException e) when (IsHomeNodeDown(e))
        {
            return false;
        }
    }

    /// <summary>RabbitMQ's answer for a classic queue whose node is down: 404, "home node … is down or inaccessible".</summary>
    public static bool IsHomeNodeDown(RabbitMQ.Client.Exceptions.OperationInterruptedException e) =>
        e.ShutdownReason?.ReplyCode == 404 && e.ShutdownReason.ReplyText.Contains("home node", StringComparison.Ordinal);

    public static async Task DeclareAsync(RabbitMqOptions rabbit, FleetOptions fleet, CancellationToken cancellationToken)
    {
        await using var connection = await BrokerEndpoints.ConnectAsync(rabbit, "ingestfleet-topology", TimeSpan.FromSeconds(5), cancellationToken);
        var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        try
        {
            if (!await DeclarePoisonAsync(channel, fleet, cancellationToken))
            {
                await channel.DisposeAsync();
                channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
            }
            foreach (var priority in fleet.Priorities)
            {
                var name = fleet.QueueName(priority);
                await channel.ExchangeDeclareAsync(name, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: cancellationToken);
                await DeclareQuorumQueueAsync(channel, name, QueueArguments(fleet), fleet, cancellationToken);
                await channel.QueueBindAsync(name, name, "", cancellationToken: cancellationToken);
            }
        }
        finally
        {
            await channel.DisposeAsync();
        }
    }

    /// <summary>Declares a durable quorum queue; a queue of a build before the initial group size was explicit is named,
    /// with what to do (<see cref="LegacyGroupSizeAdvice"/>), instead of RabbitMQ's bare 406.</summary>
    private static async Task DeclareQuorumQueueAsync(IChannel channel, string name, IDictionary<string, object?> arguments, FleetOptions fleet,
        CancellationToken cancellationToken)
    {
        try
        {
            await channel.QueueDeclareAsync(name, durable: true, exclusive: false, autoDelete: false, arguments: arguments, cancellationToken: cancellationToken);
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException e) when (IsLegacyGroupSize(e))
        {
            throw new InvalidOperationException(LegacyGroupSizeAdvice(name, fleet), e);
        }
    }

    /// <summary>A queue declared by a build before the initial group size was explicit: RabbitMQ refuses a declaration
    /// whose <c>x-quorum-initial-group-size</c> differs from the queue's (406, inequivalent arg), although it only ever
    /// mattered when the queue was created.</summary>
    internal static bool IsLegacyGroupSize(RabbitMQ.Client.Exceptions.OperationInterruptedException e) =>
        e.ShutdownReason?.ReplyCode == 406 && e.ShutdownReason.ReplyText.Contains("x-quorum-initial-group-size", StringComparison.Ordinal);

    internal static string LegacyGroupSizeAdvice(string queue, FleetOptions fleet) =>
        $"the queue {queue} exists with another x-quorum-initial-group-size than {(fleet.QuorumInitialGroupSize > 0 ? fleet.QuorumInitialGroupSize : "none")} " +
        $"(an earlier IngestFleet build declared it without one, or another size was configured); RabbitMQ only uses it when a queue is created. " +
        $"Set IngestFleet:Fleet:QuorumInitialGroupSize to the queue's value (rabbitmqctl list_queues name arguments; 0 for none, a replica on every " +
        $"node the cluster had then), or recreate the queue: with producers stopped and the queue drained, stop the workers, rabbitmqctl delete_queue " +
        $"{queue}, start the new workers. Replicas of existing queues are added without moving them with " +
        $"rabbitmq-queues grow NODE all --vhost-pattern '.*' --queue-pattern '{System.Text.RegularExpressions.Regex.Escape(fleet.QueuePrefix)}.*'";
}
