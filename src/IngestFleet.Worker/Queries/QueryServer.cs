using System.Diagnostics;
using System.Text.Json;
using IngestFleet.Contracts;
using IngestFleet.Embedding;
using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Models;
using IngestFleet.Embedding.Text;
using IngestFleet.Messaging;
using IngestFleet.Messaging.Broker;
using IngestFleet.Messaging.Queries;
using IngestFleet.Worker.Processing;
using IngestFleet.Worker.Scheduling;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace IngestFleet.Worker.Queries;

/// <summary>
/// Answers online queries (<c>POST /v1/embed</c>) for this worker's revision. Texts go through the revision's text
/// tower; images are fetched, decoded and embedded by the batch pipeline in the most urgent class
/// (<see cref="BatchProcessor.EmbedQueryImagesAsync"/>). Both run while the query claims the priority gate's first
/// level, so no stage of a less urgent batch starts until the answer is out. A query past its deadline gets no work.
/// </summary>
public sealed class QueryAnswerer(ModelManifest manifest, BatchProcessor processor, PriorityGate gate, FleetOptions fleet, BackgroundStagesHolder background,
    EmbedderOptions embedder, ILogger<QueryAnswerer> logger) : IDisposable
{
    /// <summary>
    /// The stage gate a query's CPU work goes through. While the query is in progress its claim keeps every less urgent
    /// stage from starting; the stages already running are what it shares the cores with. Where those run on the
    /// low-priority background threads (this worker serves several classes), the kernel preempts them for the query,
    /// so the query does not wait for their units: waiting meant waiting out a whole bulk inference call (ViT-B/32-size,
    /// 2 cores: text query p95 under a bulk backlog 205 ms against 31 ms idle). Otherwise it takes units as an online
    /// batch does.
    /// </summary>
    private IStageGate? Stages => !fleet.PriorityScheduling ? null : background.Stages is not null ? ClaimOnly.Instance : gate.For(0);

    // What every reply of this revision says about itself (the contract hashes are computed once, not per query).
    private readonly EmbedQueryReply _blank = new()
    {
        Model = manifest.Revision, Dimension = manifest.OutputDimension, TextContract = manifest.Text?.ContractHash(),
        PreprocessContract = manifest.Preprocess.ContractHash(), Worker = Environment.MachineName,
    };

    private TextEmbedder? _text;
    private string? _textUnavailable;

    /// <summary>Loads the text tower (tokenizer and golden pack checked) before the first query. A tower that cannot load
    /// (a file that does not match, a golden pack that does not reproduce, a graph ORT refuses) does not stop the worker:
    /// its bulk work goes on, and text queries are answered <c>text_tower_unavailable</c> with the reason (503 at the
    /// gateway); image queries are still served.</summary>
    public void Warm()
    {
        if (manifest.Text is null || _text is not null || _textUnavailable is not null) return;
        try
        {
            _text = TextEmbedder.Load(manifest, embedder.TextIntraOpThreads);
            logger.LogInformation("text tower of {Revision} ready: {Kind}, cap {Cap}, golden worst distance {Worst:G3}", manifest.Revision,
                manifest.Text.Tokenizer.Kind, manifest.Text.TokenCap, _text.GoldenWorstDistance);
        }
        catch (Exception e) when (e is ModelManifestException or GoldenPackMismatchException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException
                                       or InvalidOperationException or IOException)
        {
            _textUnavailable = e.Message;
            logger.LogError("text tower of {Revision} cannot serve: {Error}", manifest.Revision, e.Message);
        }
    }

    public async Task<EmbedQueryReply> AnswerAsync(EmbedQuery query, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var reply = _blank;
        if (query.Deadline < DateTimeOffset.UtcNow)
            return reply with { Error = new Rejection(ReasonCodes.DeadlinePassed, $"deadline {query.Deadline:O} passed before a worker took the query") };
        if (query.Texts.Count > 0 && manifest.Text is null)
            return reply with { Error = new Rejection(NoTextTower, $"model {manifest.Revision} has no text tower: embed images, or query a revision whose manifest has one") };
        if (query.Texts.Count > 0 && _text is null)
            return reply with { Error = new Rejection(TextTowerUnavailable, $"the text tower of {manifest.Revision} on {Environment.MachineName} cannot serve: {_textUnavailable ?? "not loaded yet"}") };
        if (query.Images.Count > 0 && string.IsNullOrEmpty(query.Tenant))
            return reply with { Error = new Rejection(ReasonCodes.InvalidJob, "image queries name the tenant whose sources they are") };

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(query.Deadline - DateTimeOffset.UtcNow is { Ticks: > 0 } left ? left : TimeSpan.Zero);
        using var claim = fleet.PriorityScheduling ? gate.Claim(0) : null;
        var texts = new List<QueryVector>();
        if (query.Texts.Count > 0)
        {
            var text = _text!;
            // The text tower's call takes one unit of the first level: it waits only for stages already running.
            using (Stages is { } stages ? await stages.EnterAsync(1, deadline.Token) : null)
            {
                var vectors = text.Embed(query.Texts, out var tokens);
                for (var i = 0; i < vectors.Length; i++)
                    texts.Add(new QueryVector { Embedding = vectors[i], Tokens = tokens[i].Count, Truncated = tokens[i].Truncated });
            }
        }
        var images = new List<QueryVector>();
        if (query.Images.Count > 0)
            foreach (var o in await processor.EmbedQueryImagesAsync(query.Tenant!, query.Images, Stages, deadline.Token))
                images.Add(o.Ok ? new QueryVector { Embedding = o.Vector } : new QueryVector { Error = o.Rejection });
        return reply with { Texts = texts, Images = images, ComputeMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds };
    }

    public const string NoTextTower = "no_text_tower";
    public const string TextTowerUnavailable = "text_tower_unavailable";

    public void Dispose() => _text?.Dispose();

    /// <summary>A gate that admits at once: the query's claim is what holds less urgent work back.</summary>
    private sealed class ClaimOnly : IStageGate
    {
        public static readonly ClaimOnly Instance = new();
        private sealed class Nothing : IDisposable { public void Dispose() { } }
        private static readonly Nothing None = new();
        public ValueTask<IDisposable> EnterAsync(int units, CancellationToken cancellationToken) => ValueTask.FromResult<IDisposable>(None);
        public ValueTask WaitForTurnAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }
}

/// <summary>
/// The worker's consumer of its revision's query queue, when it consumes the most urgent class (a pool of another class
/// leaves queries to the online workers), in raw AMQP (the gateway's request/reply uses direct reply-to,
/// which answers by publishing to the request's <c>reply_to</c> with its correlation id). Up to
/// <see cref="FleetOptions.QueryConcurrency"/> queries are answered at once; each is acked once its answer is
/// published, so a worker that dies holding one leaves it to another worker (the caller still waits within its
/// deadline). A lost connection is opened again after a second.
/// </summary>
public sealed class QueryServer(BrokerLink broker, FleetOptions fleet, ModelManifest manifest, QueryAnswerer answerer, ILogger<QueryServer> logger) : BackgroundService
{
    private bool _warm;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (fleet.ConsumedPriorities().FirstOrDefault() != fleet.Priorities[0])
        {
            logger.LogInformation("not answering queries: this worker does not consume the {Class} class (queries are served in it)", fleet.Priorities[0]);
            return;
        }
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await ServeAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is RabbitMQ.Client.Exceptions.BrokerUnreachableException or RabbitMQ.Client.Exceptions.OperationInterruptedException
                                           or RabbitMQ.Client.Exceptions.AlreadyClosedException or IOException or InvalidOperationException or BrokerTlsException)
            {
                logger.LogWarning("query queue of {Revision}: {Error}; reconnecting in 1 s", manifest.Revision, e.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }

    private async Task ServeAsync(CancellationToken stoppingToken)
    {
        await using var channel = await broker.OpenChannelAsync(confirms: false, stoppingToken);
        // The queue first, so a query sent while the text tower loads waits for it (within its deadline) instead of
        // being refused as having no worker.
        await FleetTopology.DeclareQueryQueueAsync(channel, fleet, manifest.Revision, stoppingToken);
        if (!_warm)
        {
            await Task.Run(answerer.Warm, stoppingToken);
            _warm = true;
        }
        await channel.BasicQosAsync(0, (ushort)fleet.QueryConcurrency, global: false, stoppingToken);
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        channel.ChannelShutdownAsync += (_, _) =>
        {
            closed.TrySetResult();
            return Task.CompletedTask;
        };
        var inFlight = new System.Collections.Concurrent.ConcurrentDictionary<ulong, Task>();
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            // Off the dispatch loop: the prefetch bounds how many run at once.
            var body = delivery.Body.ToArray();
            var (tag, replyTo, correlation) = (delivery.DeliveryTag, delivery.BasicProperties.ReplyTo, delivery.BasicProperties.CorrelationId);
            // Registered before it starts, so its own removal can never come first. (The channel outlives it: the finally
            // below waits for every query in flight before the channel is disposed.)
#pragma warning disable CA2025
            var run = new Task<Task>(() => HandleAsync(channel, tag, body, replyTo, correlation, stoppingToken));
            inFlight[tag] = run.Unwrap().ContinueWith(_ => inFlight.TryRemove(tag, out Task? _), TaskScheduler.Default);
            run.Start(TaskScheduler.Default);
#pragma warning restore CA2025
            return Task.CompletedTask;
        };
        try
        {
            await channel.BasicConsumeAsync(fleet.QueryQueueName(manifest.Revision), autoAck: false, consumer, stoppingToken);
            logger.LogInformation("answering queries of {Revision} from {Queue} ({Concurrency} at once)", manifest.Revision, fleet.QueryQueueName(manifest.Revision), fleet.QueryConcurrency);
            await closed.Task.WaitAsync(stoppingToken);
            throw new InvalidOperationException("the query channel closed");
        }
        finally
        {
            // The channel outlives the queries it delivered: each publishes its answer and acks on it.
            await Task.WhenAll(inFlight.Values).WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    private async Task HandleAsync(IChannel channel, ulong tag, byte[] body, string? replyTo, string? correlation, CancellationToken stoppingToken)
    {
        EmbedQueryReply reply;
        try
        {
            var query = JsonSerializer.Deserialize<EmbedQuery>(body, QueryClient.Json) ?? throw new JsonException("empty query");
            if (query.Texts is null || query.Images is null || query.Texts.Any(t => t is null) || query.Images.Any(i => i is null))
                throw new JsonException("texts and images must be arrays of strings");
            reply = await answerer.AnswerAsync(query, stoppingToken);
        }
        catch (JsonException e)
        {
            reply = Failed(ReasonCodes.InvalidJob, $"the query is not valid: {e.Message}");
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return; // stopping: the unacked query goes back to the queue for another worker
        }
        catch (OperationCanceledException)
        {
            reply = Failed(ReasonCodes.DeadlinePassed, "the deadline passed while the query was being answered");
        }
#pragma warning disable CA1031 // whatever failed, the caller gets an answer naming it and the query is acked, not left to block a prefetch slot
        catch (Exception e)
#pragma warning restore CA1031
        {
            logger.LogWarning(e, "query {Correlation} failed", correlation);
            reply = Failed("query_failed", e.Message);
        }
        try
        {
            if (!string.IsNullOrEmpty(replyTo))
                await channel.BasicPublishAsync("", replyTo, mandatory: false,
                    new BasicProperties { CorrelationId = correlation, ContentType = "application/json", DeliveryMode = DeliveryModes.Transient },
                    JsonSerializer.SerializeToUtf8Bytes(reply, QueryClient.Json), stoppingToken);
            await channel.BasicAckAsync(tag, multiple: false, stoppingToken);
        }
        catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
        {
            // The channel is gone: the broker gives the query to another worker (or drops it at its deadline).
            logger.LogWarning("query {Correlation}: no answer sent ({Error})", correlation, e.Message);
        }
        catch (OperationCanceledException)
        {
            // Stopping: the unacked query goes back to the queue for another worker.
        }

        EmbedQueryReply Failed(string code, string detail) =>
            new() { Model = manifest.Revision, Dimension = manifest.OutputDimension, Worker = Environment.MachineName, Error = new Rejection(code, detail) };
    }
}
