using System.Text;
using IngestFleet.Contracts;
using IngestFleet.Messaging.Broker;
using IngestFleet.Messaging.Publishing;
using IngestFleet.Messaging.Shedding;
using IngestFleet.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace IngestFleet.Messaging.Poison;

/// <summary>
/// Empties the queues where the fleet parks what it did not finish, so nothing stays there unseen:
/// <list type="bullet">
/// <item>A job in <c>{queue}_error</c> whose fault was the store being down (a <see cref="Storage.Resilience.StoreUnavailableException"/>
/// outlasted its retry budget) is put back on <c>{queue}</c> once the store answers again, at most
/// <see cref="FleetOptions.ParkedRequeueLimit"/> times (header <c>x-ingestfleet-parked</c>); past that it becomes a
/// dead letter <c>transient_exhausted</c>. Transient faults are retried, not dead-lettered.</item>
/// <item>Anything else: a message dead-lettered past the quorum queues' delivery limit (the queue <c>{prefix}poison</c>),
/// or left in <c>{queue}_error</c> / <c>{queue}_skipped</c> by another fault, becomes
/// <c>dead-letter/{tenant}/{revision}/{shard}/{item}.json</c> with reason <c>poison</c>, the delivery count and the fault
/// headers, so <c>replay</c> reaches it.</item>
/// </list>
/// A message is acked only after its record is stored or its requeue is confirmed (an outage leaves it in its queue;
/// nothing is lost); while the store does not answer, the pass is skipped. A job whose batch had written its vector
/// before the worker died may get a record too; <c>vectors compact</c> keeps the vector and removes such records
/// (vectors live in per-batch part files, so one item cannot be looked up cheaply here). A body that is not a job is recorded under
/// <c>dead-letter/_invalid/…/_poison/</c>. Every worker runs one; they compete for the messages.
/// </summary>
public sealed class PoisonDrain(BrokerLink broker, IObjectStore store, FleetOptions fleet, string defaultRevision, TimeProvider time, ILogger<PoisonDrain> logger,
    PublisherIdentity? identity = null)
    : BackgroundService
{
    private const int MaxDetailBody = 4096;

    /// <summary>How many times the drain has put a job back on its work queue after a store outage.</summary>
    public const string ParkedHeader = "x-ingestfleet-parked";

    /// <summary>How often the queues are looked at.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(2);

    public IEnumerable<string> Queues => FleetTopology.ParkedQueueNames(fleet);

    /// <summary>The longest wait between passes while messages cannot be recorded.</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Passes in a row that could not record a waiting message (or failed outright).</summary>
    public int ConsecutiveFailures { get; private set; }

    /// <summary>The wait before the next pass: the interval, doubled for each failing pass in a row up to
    /// <see cref="MaxBackoff"/>, so a message that cannot be recorded is not returned to its queue every 2 s (each
    /// return counts against the poison queue's delivery limit).</summary>
    public TimeSpan NextDelay => TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, Interval.Ticks << Math.Min(ConsecutiveFailures, 20)));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await DrainOnceAsync(stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                ConsecutiveFailures++;
                logger.LogWarning("poison drain: {Error}; retrying in {Seconds} s", e.Message, NextDelay.TotalSeconds);
            }
            await Task.Delay(NextDelay, time, stoppingToken);
        }
    }

    /// <summary>One pass over every queue; returns how many messages became records. The store is probed, and a
    /// confirming channel opened, only once a queue holds messages: an idle pass costs the broker a few passive
    /// declares and the store nothing.</summary>
    public async Task<int> DrainOnceAsync(CancellationToken cancellationToken)
    {
        var recorded = 0;
        var failedThisPass = false;
        var channel = await broker.OpenChannelAsync(confirms: false, cancellationToken);
        IChannel? requeue = null;
        try
        {
            if (!await FleetTopology.DeclarePoisonAsync(channel, fleet, cancellationToken))
            {
                // The overflow queue's node is down: drain the rest now, the overflow once its node is back.
                logger.LogWarning("poison drain: {Queue} is on a broker node that is down; the other queues are drained meanwhile", FleetTopology.PoisonOverflowName(fleet));
                await channel.DisposeAsync();
                channel = await broker.OpenChannelAsync(confirms: false, cancellationToken);
            }
            foreach (var queue in Queues)
            {
                uint waiting;
                try
                {
                    waiting = (await channel.QueueDeclarePassiveAsync(queue, cancellationToken)).MessageCount;
                }
                catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
                {
                    // The 404 closed it: the queue does not exist (nothing waits there), or it is a classic queue whose node
                    // is down (drained once the node is back; said, since what waits there cannot be counted meanwhile).
                    if (FleetTopology.IsHomeNodeDown(e))
                        logger.LogWarning("poison drain: {Queue} is on a broker node that is down; what waits there is drained once it is back", queue);
                    await channel.DisposeAsync();
                    channel = await broker.OpenChannelAsync(confirms: false, cancellationToken);
                    continue;
                }
                if (waiting == 0) continue;
                if (requeue is null)
                {
                    if (!await StoreAnswersAsync(cancellationToken)) return recorded;
                    requeue = await broker.OpenChannelAsync(confirms: true, cancellationToken);
                }
                while (await channel.BasicGetAsync(queue, autoAck: false, cancellationToken) is { } message)
                {
                    try
                    {
                        await RecordOrRequeueAsync(requeue, queue, message, cancellationToken);
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        // reject, not nack: since RabbitMQ 4.3 only a reject (or a lost consumer) counts against a quorum
                        // queue's delivery limit, which moves a message the drain can never record to the overflow queue.
                        await channel.BasicRejectAsync(message.DeliveryTag, requeue: true, cancellationToken);
                        failedThisPass = true;
                        logger.LogWarning("poison drain: could not record a message from {Queue} ({Error}); it stays there, next try in {Seconds} s",
                            queue, e.Message, TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, Interval.Ticks << Math.Min(ConsecutiveFailures + 1, 20))).TotalSeconds);
                        break;
                    }
                    await channel.BasicAckAsync(message.DeliveryTag, multiple: false, cancellationToken);
                    recorded++;
                }
            }
        }
        finally
        {
            await channel.DisposeAsync();
            if (requeue is not null) await requeue.DisposeAsync();
        }
        ConsecutiveFailures = failedThisPass ? ConsecutiveFailures + 1 : 0;
        return recorded;
    }

    /// <summary>Whether the store answers now: while it does not, parked messages wait in their queues.</summary>
    private async Task<bool> StoreAnswersAsync(CancellationToken cancellationToken)
    {
        try
        {
            await store.ProbeAsync(cancellationToken);
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogDebug("poison drain: the store does not answer ({Error}); parked messages wait", e.Message);
            return false;
        }
    }

    private static readonly string[] InfrastructureFaults =
    [
        ".StoreUnavailableException", ".SocketException", ".HttpRequestException", ".IOException", ".TimeoutException", ".AmazonClientException",
        ".BrokerUnreachableException", ".AlreadyClosedException",
    ];

    /// <summary>
    /// Whether an <c>_error</c> message failed because of infrastructure (the store or the network was down), not because
    /// of the job. MassTransit records the innermost exception's type (a refused connection shows as SocketException), so
    /// the stack trace is read too.
    /// </summary>
    public static bool IsStoreOutage(IDictionary<string, object?> headers) =>
        (Header(headers, "MT-Fault-ExceptionType") is { } type && InfrastructureFaults.Any(f => type.EndsWith(f, StringComparison.Ordinal)))
        || (Header(headers, "MT-Fault-StackTrace") is { } trace && trace.Contains("StoreUnavailableException", StringComparison.Ordinal));

    private async Task RecordOrRequeueAsync(IChannel requeue, string queue, BasicGetResult message, CancellationToken cancellationToken)
    {
        var headers = message.BasicProperties.Headers ?? new Dictionary<string, object?>();
        if (queue.EndsWith("_error", StringComparison.Ordinal) && IsStoreOutage(headers))
        {
            var parked = headers.TryGetValue(ParkedHeader, out var p) && p is int or long ? Convert.ToInt32(p, System.Globalization.CultureInfo.InvariantCulture) : 0;
            if (parked < fleet.ParkedRequeueLimit)
            {
                var target = queue[..^"_error".Length];
                // Requeued as the fleet's user on behalf of the job's publisher, so the worker checks the original identity.
                var properties = PublisherIdentity.Stamp(new BasicProperties
                {
                    Persistent = true, ContentType = message.BasicProperties.ContentType, MessageId = message.BasicProperties.MessageId,
                    Headers = new Dictionary<string, object?> { [ParkedHeader] = parked + 1 },
                }, broker.UserName, PublisherIdentity.PublisherOf(message.BasicProperties, broker.UserName) ?? "");
                // Confirmed before the parked copy is acked: a crash in between leaves a duplicate, never a loss.
                await requeue.BasicPublishAsync("", target, mandatory: true, properties, message.Body, cancellationToken);
                logger.LogInformation("poison drain: a job parked in {Queue} by a store outage went back to {Target} (time {Count})", queue, target, parked + 1);
                return;
            }
            await RecordAsync(queue, message, headers, ReasonCodes.TransientExhausted,
                $"the store was still failing after {parked} requeues", cancellationToken);
            return;
        }
        await RecordAsync(queue, message, headers, ReasonCodes.Poison, null, cancellationToken);
    }

    private async Task RecordAsync(string queue, BasicGetResult message, IDictionary<string, object?> headers, string reason, string? why,
        CancellationToken cancellationToken)
    {
        var job = Shedder.ParseJob(message.Body);
        var deliveries = DeliveryCount(headers);
        var fault = Header(headers, "MT-Fault-Message") ?? Header(headers, "MT-Reason");
        var detail = new StringBuilder($"from {queue}: ");
        if (why is not null) detail.Append(why).Append("; ");
        detail.Append(queue.EndsWith("_error", StringComparison.Ordinal) ? "MassTransit moved it to its error queue"
            : queue.EndsWith("_skipped", StringComparison.Ordinal) ? "MassTransit skipped it (no consumer took it)"
            : $"redelivered past the delivery limit ({fleet.DeliveryLimit}): a worker stopped or crashed on it every time");
        if (deliveries > 0) detail.Append($"; delivered {deliveries} times");
        if (fault is not null) detail.Append($"; fault: {fault}");
        if (Header(headers, "MT-Fault-ExceptionType") is { } type) detail.Append($" ({type})");
        var revision = job?.ModelRevision is { Length: > 0 } r ? r : defaultRevision;
        if (job is null)
        {
            var raw = Encoding.UTF8.GetString(message.Body.Span[..Math.Min(message.Body.Length, MaxDetailBody)]);
            detail.Append($"; body (not a job): {raw}");
            job = new EmbedCatalogImage
            {
                Tenant = "_invalid", Shard = "_poison", ItemId = message.BasicProperties.MessageId ?? $"delivery-{Guid.NewGuid():N}", Image = "", Priority = "",
            };
        }
        var now = time.GetUtcNow();
        var publisher = PublisherIdentity.PublisherOf(message.BasicProperties, broker.UserName) ?? "";
        // A job its publisher may not send for its tenant is recorded apart, never over the claimed tenant's dead letters.
        var keyTenant = identity?.KeyTenantFor(publisher, job.Tenant) ?? job.Tenant;
        var record = new DeadLetterRecord
        {
            Job = job, Reason = reason, Detail = detail.ToString(), Attempts = (int)Math.Clamp(deliveries, 1, int.MaxValue), WorkerHost = Environment.MachineName,
            ModelRevision = revision, FirstFailedAt = now, LastFailedAt = now,
            Publisher = publisher,
        };
        await store.PutAsync(StorageKeys.DeadLetter(job with { Tenant = keyTenant }, revision), record.ToJson(), DeadLetterRecord.ContentType, cancellationToken);
        logger.LogWarning("poison drain: {Key} recorded as a dead letter ({Detail})", job.Key, record.Detail);
    }

    /// <summary>How often the broker delivered the message: its <c>x-delivery-count</c> (returns so far) plus the delivery
    /// that ended in the dead-lettering, or, without that header, <c>x-death[0].count</c>.</summary>
    private static long DeliveryCount(IDictionary<string, object?> headers)
    {
        long deaths = 0;
        if (headers.TryGetValue("x-death", out var death) && death is IList<object> list && list.Count > 0
            && list[0] is IDictionary<string, object?> first && first.TryGetValue("count", out var count) && count is long n)
            deaths = n;
        return headers.TryGetValue("x-delivery-count", out var d) && d is long or int ? Math.Max(deaths, Convert.ToInt64(d, System.Globalization.CultureInfo.InvariantCulture) + 1) : deaths;
    }

    private static string? Header(IDictionary<string, object?> headers, string name) =>
        headers.TryGetValue(name, out var v) ? v switch { byte[] b => Encoding.UTF8.GetString(b), null => null, _ => v.ToString() } : null;
}
