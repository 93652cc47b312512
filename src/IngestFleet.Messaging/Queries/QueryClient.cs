using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using IngestFleet.Contracts;
using IngestFleet.Messaging.Broker;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace IngestFleet.Messaging.Queries;

/// <summary>How a query ended, for the gateway to turn into a status.</summary>
public enum QueryOutcome
{
    /// <summary>A worker answered (<see cref="QueryAnswer.Reply"/>).</summary>
    Answered,
    /// <summary>The revision's query queue is full (its publish was refused): 429.</summary>
    QueueFull,
    /// <summary>No queue for the revision (no worker of it ever started): 503.</summary>
    NoWorker,
    /// <summary>The broker cannot be reached or did not confirm: 503.</summary>
    BrokerDown,
    /// <summary>No answer before the deadline: 504.</summary>
    DeadlinePassed,
}

public sealed record QueryAnswer(QueryOutcome Outcome, EmbedQueryReply? Reply = null, string? Detail = null);

/// <summary>
/// The gateway's side of online queries: RabbitMQ request/reply with direct reply-to. One channel, with publisher
/// confirms, consumes the pseudo-queue <c>amq.rabbitmq.reply-to</c> (no ack, as the broker requires) and publishes each
/// query to its revision's queue with <c>reply_to</c>, a correlation id and the deadline as the message's TTL; the
/// worker's answer comes back on the same channel and completes the waiting request. A confirm nack (the queue is at
/// its length cap) or a return (no such queue) ends the request at once; a channel that closes fails its waiting
/// requests and is opened again by the next one. Nothing waits longer than its deadline.
/// </summary>
public sealed class QueryClient(BrokerLink broker, FleetOptions fleet, ILogger<QueryClient> logger) : IAsyncDisposable
{
    public const string DirectReplyTo = "amq.rabbitmq.reply-to";

    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly ConcurrentDictionary<string, Waiting> _pending = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (DateTimeOffset At, uint Consumers)> _consumers = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _opening = new(1, 1);
    private IChannel? _channel;

    /// <summary>How long a revision's consumer count is trusted before it is read again.</summary>
    public static readonly TimeSpan ConsumerCheckInterval = TimeSpan.FromSeconds(2);

    private sealed record Waiting(TaskCompletionSource<EmbedQueryReply> Answer, IChannel Channel);

    /// <summary>Sends a query and waits for its answer. Every step (opening the channel, the publish and its confirm, the
    /// answer) ends at the query's deadline; no broker failure escapes as an exception.</summary>
    public async Task<QueryAnswer> AskAsync(string revision, EmbedQuery query, CancellationToken cancellationToken)
    {
        var remaining = query.Deadline - DateTimeOffset.UtcNow;
        if (remaining <= TimeSpan.Zero) return new QueryAnswer(QueryOutcome.DeadlinePassed, Detail: "the deadline passed before the query was sent");
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(remaining);
        var id = Guid.NewGuid().ToString("N");
        try
        {
            if (await ConsumersAsync(revision, deadline.Token) is { } none) return none;
            var channel = await ChannelAsync(deadline.Token);
            var answer = new TaskCompletionSource<EmbedQueryReply>(TaskCreationOptions.RunContinuationsAsynchronously);
            _pending[id] = new Waiting(answer, channel);
            var properties = new BasicProperties
            {
                CorrelationId = id,
                ReplyTo = DirectReplyTo,
                ContentType = "application/json",
                DeliveryMode = DeliveryModes.Transient,
                Expiration = ((long)Math.Ceiling(remaining.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture),
            };
            try
            {
                await channel.BasicPublishAsync("", fleet.QueryQueueName(revision), mandatory: true, properties,
                    JsonSerializer.SerializeToUtf8Bytes(query, Json), deadline.Token);
            }
            catch (PublishException e) when (e.IsReturn)
            {
                _consumers.TryRemove(revision, out _);
                return new QueryAnswer(QueryOutcome.NoWorker, Detail: $"no worker serves model {revision} (its query queue {fleet.QueryQueueName(revision)} does not exist)");
            }
            catch (PublishException)
            {
                // reject-publish nacks a full queue; a nack for anything else (a quorum queue without a leader) is the broker's.
                var depth = await DepthAsync(revision, deadline.Token);
                return depth >= fleet.QueryQueueMaxLength
                    ? new QueryAnswer(QueryOutcome.QueueFull, Detail: $"the query queue of {revision} holds {depth} queries, at its cap ({fleet.QueryQueueMaxLength})")
                    : new QueryAnswer(QueryOutcome.BrokerDown, Detail: $"the broker refused the query ({depth?.ToString(CultureInfo.InvariantCulture) ?? "unknown"} waiting)");
            }
            return new QueryAnswer(QueryOutcome.Answered, await answer.Task.WaitAsync(deadline.Token));
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new QueryAnswer(QueryOutcome.DeadlinePassed, Detail: $"no worker of {revision} answered before the deadline");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning("query to {Revision}: {Error}", revision, e.Message);
            return new QueryAnswer(QueryOutcome.BrokerDown, Detail: e.Message);
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    /// <summary>NoWorker when the revision's queue does not exist or nobody consumes it (read at most every
    /// <see cref="ConsumerCheckInterval"/>); null when a worker is there.</summary>
    private async Task<QueryAnswer?> ConsumersAsync(string revision, CancellationToken cancellationToken)
    {
        if (!_consumers.TryGetValue(revision, out var seen) || DateTimeOffset.UtcNow - seen.At > ConsumerCheckInterval)
        {
            var (exists, consumers, _) = await InspectAsync(revision, cancellationToken);
            if (!exists) return new QueryAnswer(QueryOutcome.NoWorker, Detail: $"no worker serves model {revision} (its query queue {fleet.QueryQueueName(revision)} does not exist)");
            seen = (DateTimeOffset.UtcNow, consumers);
            _consumers[revision] = seen;
        }
        return seen.Consumers == 0
            ? new QueryAnswer(QueryOutcome.NoWorker, Detail: $"no worker of model {revision} is consuming its query queue {fleet.QueryQueueName(revision)}")
            : null;
    }

    private async Task<uint?> DepthAsync(string revision, CancellationToken cancellationToken)
    {
        try
        {
            var (exists, _, messages) = await InspectAsync(revision, cancellationToken);
            return exists ? messages : null;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>A passive declare on a channel of its own (a missing queue closes the channel it was asked on).</summary>
    private async Task<(bool Exists, uint Consumers, uint Messages)> InspectAsync(string revision, CancellationToken cancellationToken)
    {
        await using var channel = await broker.OpenChannelAsync(confirms: false, cancellationToken);
        try
        {
            var ok = await channel.QueueDeclarePassiveAsync(fleet.QueryQueueName(revision), cancellationToken);
            return (true, ok.ConsumerCount, ok.MessageCount);
        }
        catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
        {
            return (false, 0, 0);
        }
    }

    private async Task<IChannel> ChannelAsync(CancellationToken cancellationToken)
    {
        if (_channel is { IsOpen: true } open) return open;
        await _opening.WaitAsync(cancellationToken);
        try
        {
            if (_channel is { IsOpen: true } again) return again;
            if (_channel is not null) await _channel.DisposeAsync();
            var channel = await broker.OpenChannelAsync(confirms: true, cancellationToken);
            var consumer = new AsyncEventingBasicConsumer(channel);
            consumer.ReceivedAsync += (_, delivery) =>
            {
                if (delivery.BasicProperties.CorrelationId is { } id && _pending.TryGetValue(id, out var waiting))
                {
                    try
                    {
                        waiting.Answer.TrySetResult(JsonSerializer.Deserialize<EmbedQueryReply>(delivery.Body.Span, Json)!);
                    }
                    catch (JsonException e)
                    {
                        waiting.Answer.TrySetException(new InvalidOperationException($"a worker answered with invalid JSON: {e.Message}", e));
                    }
                }
                return Task.CompletedTask;
            };
            channel.ChannelShutdownAsync += (_, reason) =>
            {
                // The answers to the queries sent on this channel would arrive on it: they fail now, not at their deadline.
                var lost = _pending.Values.Where(w => ReferenceEquals(w.Channel, channel)).ToList();
                logger.LogWarning("query reply channel closed ({Reason}); {Waiting} waiting queries fail", reason.ReplyText, lost.Count);
                foreach (var waiting in lost) waiting.Answer.TrySetException(new AlreadyClosedException(reason));
                return Task.CompletedTask;
            };
            await channel.BasicConsumeAsync(DirectReplyTo, autoAck: true, consumer, cancellationToken);
            _channel = channel;
            return channel;
        }
        finally
        {
            _opening.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_channel is not null) await _channel.DisposeAsync();
        _opening.Dispose();
    }
}
