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

    private readonly ConcurrentDictionary<string, TaskCompletionSource<EmbedQueryReply>> _pending = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _opening = new(1, 1);
    private IChannel? _channel;

    public async Task<QueryAnswer> AskAsync(string revision, EmbedQuery query, CancellationToken cancellationToken)
    {
        var remaining = query.Deadline - DateTimeOffset.UtcNow;
        if (remaining <= TimeSpan.Zero) return new QueryAnswer(QueryOutcome.DeadlinePassed, Detail: "the deadline passed before the query was sent");
        var id = Guid.NewGuid().ToString("N");
        var answer = new TaskCompletionSource<EmbedQueryReply>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = answer;
        try
        {
            IChannel channel;
            try
            {
                channel = await ChannelAsync(cancellationToken);
            }
            catch (Exception e) when (e is BrokerUnreachableException or OperationInterruptedException or BrokerTlsException or IOException)
            {
                return new QueryAnswer(QueryOutcome.BrokerDown, Detail: e.Message);
            }
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
                    JsonSerializer.SerializeToUtf8Bytes(query, Json), cancellationToken);
            }
            catch (PublishException e) when (e.IsReturn)
            {
                return new QueryAnswer(QueryOutcome.NoWorker, Detail: $"no worker serves model {revision} (its query queue {fleet.QueryQueueName(revision)} does not exist)");
            }
            catch (PublishException)
            {
                return new QueryAnswer(QueryOutcome.QueueFull, Detail: $"the query queue of {revision} is at its length cap ({fleet.QueryQueueMaxLength})");
            }
            catch (Exception e) when (e is AlreadyClosedException or OperationInterruptedException or IOException)
            {
                return new QueryAnswer(QueryOutcome.BrokerDown, Detail: e.Message);
            }
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            wait.CancelAfter(query.Deadline - DateTimeOffset.UtcNow is { Ticks: > 0 } left ? left : TimeSpan.Zero);
            try
            {
                return new QueryAnswer(QueryOutcome.Answered, await answer.Task.WaitAsync(wait.Token));
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return new QueryAnswer(QueryOutcome.DeadlinePassed, Detail: $"no worker of {revision} answered before the deadline");
            }
            catch (AlreadyClosedException e)
            {
                return new QueryAnswer(QueryOutcome.BrokerDown, Detail: e.Message);
            }
        }
        finally
        {
            _pending.TryRemove(id, out _);
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
                        waiting.TrySetResult(JsonSerializer.Deserialize<EmbedQueryReply>(delivery.Body.Span, Json)!);
                    }
                    catch (JsonException e)
                    {
                        waiting.TrySetException(new InvalidOperationException($"a worker answered with invalid JSON: {e.Message}", e));
                    }
                }
                return Task.CompletedTask;
            };
            channel.ChannelShutdownAsync += (_, reason) =>
            {
                // Answers for the requests waiting now would arrive on this channel: they fail now instead of at their deadline.
                logger.LogWarning("query reply channel closed ({Reason}); {Waiting} waiting queries fail", reason.ReplyText, _pending.Count);
                foreach (var waiting in _pending.Values) waiting.TrySetException(new AlreadyClosedException(reason));
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
