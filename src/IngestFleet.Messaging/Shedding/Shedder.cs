using System.Text.Json;
using IngestFleet.Contracts;
using IngestFleet.Storage;
using IngestFleet.Messaging.Broker;
using IngestFleet.Messaging.Limits;
using IngestFleet.Messaging.Publishing;
using IngestFleet.Messaging.Telemetry;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace IngestFleet.Messaging.Shedding;

/// <summary>
/// Moves jobs out of a queue that passed its published max depth into the S3 parking prefix
/// <c>shed/{tenant}/{model-revision}/{shard}/{item}.json</c>, lowest-priority work first: queues by descending shed rank
/// (rank 0 is never shed), and inside a queue the shards with the highest shard rank first (then the shard with the
/// most jobs in the window, then queue order).
/// Hysteresis: shedding starts when depth passes max_depth and continues, pass after pass, until depth is at or below
/// resume_depth; between the two the queue is left alone, so the shedder does not flap at the limit.
/// Zero loss: a job is acked only after its record is stored (a crash in between re-parks it onto the same key); jobs
/// read but not chosen are republished to the queue's tail with a broker confirm before they are acked, so nothing
/// is requeued through a nack (which would count against the quorum queue's delivery limit).
/// </summary>
public sealed class Shedder(
    BrokerLink broker, IDepthSource monitor, IObjectStore store, FleetOptions fleet, LimitsOptions options, string defaultRevision,
    TimeProvider time, ILogger<Shedder> logger, PublisherIdentity? identity = null) : IAsyncDisposable
{
    /// <summary>At most this many messages are held unacked by one pass (bounds the shedder's memory).</summary>
    public int Window { get; init; } = 10_000;

    private readonly Dictionary<string, bool> _active = new(StringComparer.Ordinal);

    public bool IsShedding(string queue) => _active.GetValueOrDefault(queue);

    private IChannel? _leaderChannel;

    /// <summary>
    /// One shedder per fleet: the process that holds the exclusive queue <c>{prefix}shedder-lock</c> sheds; the others
    /// skip their passes (RabbitMQ answers 405 RESOURCE_LOCKED to them). The lock goes with the holder's connection, so
    /// another worker takes over within one interval when the holder stops or dies. Two shedders at once would never
    /// lose a job, but could park more than needed.
    /// </summary>
    public async Task<bool> HoldsLeadershipAsync(CancellationToken cancellationToken)
    {
        if (_leaderChannel is { IsOpen: true }) return true;
        try
        {
            _leaderChannel = await broker.OpenChannelAsync(confirms: false, cancellationToken);
            await _leaderChannel.QueueDeclareAsync(fleet.QueuePrefix + "shedder-lock", durable: false, exclusive: true, autoDelete: true, cancellationToken: cancellationToken);
            logger.LogInformation("this process is the fleet's shedder ({Queue})", fleet.QueuePrefix + "shedder-lock");
            return true;
        }
        catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 405)
        {
            _leaderChannel = null; // another worker sheds
            return false;
        }
    }

    public async Task<IReadOnlyList<ShedPass>> RunOnceAsync(CancellationToken cancellationToken)
    {
        if (!await HoldsLeadershipAsync(cancellationToken)) return [];
        var snapshot = await monitor.GetAsync(cancellationToken, fresh: true);
        if (!snapshot.BrokerReachable) return [];
        var limits = PublishedLimits.Resolve(fleet, options);
        var passes = new List<ShedPass>();
        foreach (var limit in limits.Where(l => l.ShedRank > 0).OrderByDescending(l => l.ShedRank).ThenByDescending(l => Array.IndexOf(fleet.Priorities, l.Priority)))
        {
            if (!snapshot.Queues.TryGetValue(limit.Priority, out var sample)) continue;
            if (sample.Depth <= limit.ResumeDepth || (!IsShedding(limit.Queue) && sample.Depth <= limit.MaxDepth))
            {
                _active[limit.Queue] = false;
                continue;
            }
            _active[limit.Queue] = true;
            var pass = await ShedAsync(limit, sample, cancellationToken);
            passes.Add(pass);
            if (pass.DepthAfter <= limit.ResumeDepth) _active[limit.Queue] = false;
            logger.LogWarning("shed {Parked} jobs from {Queue} (depth {Before} > max {Max}; now {After}, resume at {Resume}): {Shards}",
                pass.Parked, limit.Queue, pass.DepthBefore, limit.MaxDepth, pass.DepthAfter, limit.ResumeDepth,
                string.Join(", ", pass.ParkedPerShard.Select(kv => $"{kv.Key}={kv.Value}")));
        }
        return passes;
    }

    private async Task<ShedPass> ShedAsync(QueueLimit limit, QueueSample sample, CancellationToken cancellationToken)
    {
        await using var channel = await broker.OpenChannelAsync(confirms: true, cancellationToken);
        var toShed = sample.Depth - limit.ResumeDepth;
        var held = new List<(BasicGetResult Message, EmbedCatalogImage? Job)>();
        var take = (int)Math.Min(Window, sample.Ready);
        for (var i = 0; i < take; i++)
        {
            var got = await channel.BasicGetAsync(limit.Queue, autoAck: false, cancellationToken);
            if (got is null) break;
            held.Add((got, ParseJob(got.Body)));
        }

        var chosen = ShedSelection.Choose(held.Select(h => h.Job).ToList(), toShed, options);

        var now = time.GetUtcNow();
        var parked = new Dictionary<string, int>(StringComparer.Ordinal);
        var parkFailed = new HashSet<int>();
        using var gate = new SemaphoreSlim(16);
        await Task.WhenAll(chosen.Select(async i =>
        {
            var job = held[i].Job!;
            var revision = job.ModelRevision.Length > 0 ? job.ModelRevision : defaultRevision;
            var publisher = PublisherIdentity.PublisherOf(held[i].Message.BasicProperties, broker.UserName) ?? "";
            // A job its publisher may not send for its tenant is parked apart, never over the claimed tenant's records.
            var keyTenant = identity?.KeyTenantFor(publisher, job.Tenant) ?? job.Tenant;
            var record = new DeadLetterRecord
            {
                Job = job, Reason = ReasonCodes.Shed, Attempts = 0, WorkerHost = Environment.MachineName, ModelRevision = revision,
                Publisher = publisher,
                Detail = $"queue {limit.Queue} depth {sample.Depth} passed its published max depth {limit.MaxDepth}; shard {job.Shard} rank {PublishedLimits.ShardRank(options, job.Shard)}",
                FirstFailedAt = now, LastFailedAt = now,
            };
            await gate.WaitAsync(cancellationToken);
            try
            {
                await store.PutAsync(StorageKeys.Shed(keyTenant, revision, job.Shard, job.ItemId), record.ToJson(), DeadLetterRecord.ContentType, cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogError("could not park {Key}: {Error}; it stays in {Queue}", job.Key, e.Message, limit.Queue);
                lock (parkFailed) parkFailed.Add(i);
            }
            finally
            {
                gate.Release();
            }
        }));

        var kept = 0;
        for (var i = 0; i < held.Count; i++)
        {
            var (message, job) = held[i];
            if (chosen.Contains(i) && !parkFailed.Contains(i))
            {
                await channel.BasicAckAsync(message.DeliveryTag, multiple: false, cancellationToken);
                parked[job!.Shard] = parked.GetValueOrDefault(job.Shard) + 1;
                MessagingMetrics.ShedItems.Add(1, new("messaging.destination.name", limit.Queue), new("tenant", job.Tenant), new("shard", job.Shard));
            }
            else
            {
                // Back to the tail, confirmed, then acked: never lost, never counted as a failed delivery. Republished as the
                // fleet's user (the broker refuses another user's user_id here) on behalf of the job's publisher.
                var properties = PublisherIdentity.Stamp(new BasicProperties(message.BasicProperties), broker.UserName,
                    PublisherIdentity.PublisherOf(message.BasicProperties, broker.UserName) ?? "");
                await channel.BasicPublishAsync("", limit.Queue, mandatory: true, properties, message.Body, cancellationToken);
                await channel.BasicAckAsync(message.DeliveryTag, multiple: false, cancellationToken);
                kept++;
            }
        }
        var after = (await monitor.GetAsync(cancellationToken, fresh: true)).Queues.GetValueOrDefault(limit.Priority)?.Depth ?? sample.Depth - parked.Values.Sum();
        return new ShedPass(limit.Queue, sample.Depth, after, parked.Values.Sum(), kept, parked);
    }

    /// <summary>The job in a message: plain JSON, the one wire format.</summary>
    public static EmbedCatalogImage? ParseJob(ReadOnlyMemory<byte> body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return null;
            var job = root.Deserialize<EmbedCatalogImage>();
            return job is not null && JobValidator.IsSafeSegment(job.Tenant) && JobValidator.IsSafeSegment(job.Shard) && job.ItemId.Length > 0
                   && (job.ModelRevision.Length == 0 || JobValidator.IsSafeSegment(job.ModelRevision))
                ? job : null; // anything else stays for the worker, which dead-letters it with a reason
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Closes the leadership channel, which hands the shedder lock to another worker at once.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_leaderChannel is { } channel)
        {
            _leaderChannel = null;
            await channel.DisposeAsync();
        }
    }
}
