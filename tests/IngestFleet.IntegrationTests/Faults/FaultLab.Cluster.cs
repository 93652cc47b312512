// Test harness: the lab owns the processes and servers it starts and disposes them in its finally blocks (CA2000).
#pragma warning disable CA2000
using System.Diagnostics;
using System.Net.Http.Json;
using IngestFleet.Gateway;
using IngestFleet.Messaging;
using IngestFleet.Messaging.Broker;
using IngestFleet.Storage.Resilience;
using IngestFleet.Storage.S3;
using Microsoft.AspNetCore.Builder;

namespace IngestFleet.Faults;

/// <summary>One broker node down (or restarted) during a cluster run: what the fleet wrote meanwhile.</summary>
/// <param name="OutcomesBefore">Items with an outcome when the node was stopped.</param>
/// <param name="OutcomesSettled">… ten seconds later, once batches in flight at the stop have ended (for a stop of at
/// least that long; else the same as <paramref name="OutcomesBefore"/>).</param>
/// <param name="OutcomesBeforeStart">… just before the node was started again.</param>
/// <param name="OutcomesAfter">… once it was back.</param>
/// <param name="LongestStallSeconds">The longest time, from the stop to the node's return, in which no new outcome
/// appeared (sampled every second or so): how long the fleet stood still because of the node.</param>
/// <param name="GatewayRefusals">Posts the gateway did not accept in the window (503 while it reconnected); the
/// producer posted each again.</param>
public sealed record OutageWindow(string What, int Node, double StartSeconds, double Seconds, int OutcomesBefore, int OutcomesSettled, int OutcomesBeforeStart,
    int OutcomesAfter, double LongestStallSeconds, int GatewayRefusals)
{
    /// <summary>Items that got their outcome while the node was down, not counting batches that were in flight when it
    /// stopped.</summary>
    public int WrittenWhileDown => OutcomesBeforeStart - OutcomesSettled;

    public override string ToString() =>
        FormattableString.Invariant($"{What,-26} node {Node}  at {StartSeconds,5:0} s for {Seconds,4:0} s  outcomes {OutcomesBefore,4} -> {OutcomesAfter,4} ({WrittenWhileDown} while down{(OutcomesSettled != OutcomesBefore ? ", after the first 10 s" : "")})  longest stall {LongestStallSeconds,5:0.0} s  gateway refusals {GatewayRefusals}");
}

/// <param name="Replicas">The members of each work queue, read before any node was stopped.</param>
public sealed record ClusterRun(LedgerRow Ledger, IReadOnlyList<OutageWindow> Windows, int Posts, int Refusals, IReadOnlyDictionary<string, int> Replicas);

public sealed partial class FaultLab
{
    /// <summary>
    /// The broker cluster scenario: a worker process and an in-process gateway, both given the node list (and every
    /// management URL); a producer posts one job at a time to the gateway at a steady pace (posting again what was not
    /// accepted) so work arrives through every fault; meanwhile the node holding the queue's leader is stopped for
    /// <paramref name="outage"/>, then node 1 (first in the list) for as long, then each node is restarted in turn.
    /// The ledger is checked as in every scenario.
    /// </summary>
    public async Task<ClusterRun> RunClusterAsync(int items, int batch, TimeSpan outage, TimeSpan timeout)
    {
        var id = Guid.NewGuid().ToString("N")[..8];
        var prefix = $"cluster-{id}-";
        var bucket = $"cluster-{id}";
        var notes = new List<string>();
        var workers = new List<Process>();
        var clock = Stopwatch.StartNew();
        var samples = new List<(double At, int Outcomes)>();
        var refusals = new List<double>();
        using var stop = new CancellationTokenSource();
        Task? sampler = null, producer = null;
        try
        {
            using var s3 = new S3ObjectStore(new S3Options { ServiceUrl = env.S3Endpoint, Bucket = bucket, AccessKey = env.S3AccessKey, SecretKey = env.S3SecretKey, CreateBucket = true,
                ListObjectsVersion = 1 });
            await s3.ProbeAsync(CancellationToken.None); // creates the bucket
            var store = new ResilientObjectStore(s3, new StoreRetryOptions { BudgetSeconds = 120 });
            for (var i = 0; i < PhotoNames.Length; i++)
                await store.PutAsync($"img/{i}.jpg", await File.ReadAllBytesAsync(Path.Combine(env.PhotosDir, PhotoNames[i])), "image/jpeg", CancellationToken.None);

            var fleet = new FleetOptions { QueuePrefix = prefix, BatchSize = batch, DeliveryLimit = 10 };
            var rabbit = new RabbitMqOptions
            {
                Uri = BrokerCluster.Uri, ClusterNodes = [.. BrokerCluster.Nodes],
                ManagementUri = BrokerCluster.ManagementUrls[0], ManagementUris = [.. BrokerCluster.ManagementUrls.Skip(1)],
            };
            await FleetTopology.DeclareAsync(rabbit, fleet, CancellationToken.None);
            var queue = fleet.QueueName("bulk");
            var settings = Settings(FaultScenario.BrokerNodeLoss, fleet, env.S3Endpoint, bucket);
            settings["IngestFleet__RabbitMq__Uri"] = rabbit.Uri;
            for (var i = 0; i < BrokerCluster.Size; i++)
            {
                settings[$"IngestFleet__RabbitMq__ClusterNodes__{i}"] = BrokerCluster.Nodes[i];
                if (i > 0) settings[$"IngestFleet__RabbitMq__ManagementUris__{i - 1}"] = BrokerCluster.ManagementUrls[i];
            }
            settings["IngestFleet__RabbitMq__ManagementUri"] = BrokerCluster.ManagementUrls[0];
            StartWorker(settings, workers);

            var config = settings.ToDictionary(kv => kv.Key.Replace("__", ":", StringComparison.Ordinal), kv => (string?)kv.Value);
            config["IngestFleet:Gateway:Auth:AllowAnonymous"] = "true"; // the gateway's keys are tested elsewhere; this is about the broker
            await using var gateway = GatewayApp.Build(config, "http://127.0.0.1:0", Microsoft.Extensions.Logging.LogLevel.Warning);
            await gateway.StartAsync();
            using var http = new HttpClient { BaseAddress = gateway.BoundAddress(), Timeout = TimeSpan.FromSeconds(30) };

            using var deadline = new CancellationTokenSource(timeout);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, stop.Token);
            var ct = deadline.Token;
            sampler = Task.Run(async () =>
            {
                while (!linked.IsCancellationRequested)
                {
                    var n = await CountOutcomesAsync(store, linked.Token);
                    lock (samples) samples.Add((clock.Elapsed.TotalSeconds, n));
                    await Task.Delay(1000, linked.Token);
                }
            }, linked.Token);
            int Latest() { lock (samples) return samples.Count == 0 ? 0 : samples[^1].Outcomes; }
            async Task WaitForOutcomes(int atLeast)
            {
                while (Latest() < atLeast) await Task.Delay(250, ct);
            }

            // Jobs arrive steadily across every fault: two outages, the gaps and the rolling restart.
            var jobs = Jobs(FaultScenario.BrokerNodeLoss, items, batch, bucket, null);
            var span = outage * 2 + TimeSpan.FromSeconds(100);
            var posts = 0;
            producer = Task.Run(async () =>
            {
                var pace = span / jobs.Count;
                foreach (var (job, _) in jobs)
                {
                    var body = new { tenant = job.Tenant, shard = job.Shard, item_id = job.ItemId, image = job.Image, priority = job.Priority };
                    while (true)
                    {
                        posts++;
                        try
                        {
                            using var answer = await http.PostAsJsonAsync(new Uri("/v1/jobs", UriKind.Relative), body, ct);
                            if (answer.StatusCode == System.Net.HttpStatusCode.Accepted) break;
                        }
                        catch (HttpRequestException)
                        {
                        }
                        lock (refusals) refusals.Add(clock.Elapsed.TotalSeconds);
                        await Task.Delay(500, ct);
                    }
                    await Task.Delay(pace, ct);
                }
            }, ct);

            await WaitForOutcomes(Math.Min(40, items / 10));
            var replicas = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var q in fleet.QueueNames()) replicas[q] = (await BrokerCluster.MembersOfAsync(q, ct)).Count;
            var windows = new List<(string What, int Node, double From, double To, int Before, int Settled, int BeforeStart, int After)>();
            async Task Down(string what, int node, TimeSpan length)
            {
                var before = Latest();
                var from = clock.Elapsed.TotalSeconds;
                await RequireCluster().StopAppAsync(node);
                log?.Invoke(FormattableString.Invariant($"{from,5:0} s: {what}: node {node} stopped"));
                var settle = TimeSpan.FromSeconds(10);
                int settled;
                if (length > settle)
                {
                    await Task.Delay(settle, ct);
                    settled = Latest();
                    await Task.Delay(length - settle, ct);
                }
                else
                {
                    settled = before; // too short to wait for the batches in flight to end: counted from the stop
                    await Task.Delay(length, ct);
                }
                var beforeStart = Latest();
                await RequireCluster().StartAppAsync(node);
                var to = clock.Elapsed.TotalSeconds;
                windows.Add((what, node, from, to, before, settled, beforeStart, Latest()));
                log?.Invoke(FormattableString.Invariant($"{to,5:0} s: node {node} back"));
                await Task.Delay(TimeSpan.FromSeconds(5), ct); // its replicas catch up before the next node goes
            }
            // The first node of the list first: once it has been stopped the queue's leader is on another node, so the
            // leader's node stopped next is a different one.
            await Down(FirstNode, 1, outage);
            await Down(LeadersNode, await BrokerCluster.LeaderOfAsync(queue, ct), outage);
            for (var node = 1; node <= BrokerCluster.Size; node++) await Down(RollingRestart, node, TimeSpan.FromSeconds(5));

            await producer;
            await WaitForOutcomes(jobs.Count);
            var emptySince = DateTime.UtcNow;
            while (DateTime.UtcNow - emptySince < TimeSpan.FromSeconds(10))
            {
                if (await LeftInQueuesAsync(fleet, ct) > 0) emptySince = DateTime.UtcNow;
                await Task.Delay(500, ct);
            }
            await stop.CancelAsync();
            try { await sampler; } catch (OperationCanceledException) { }
            foreach (var w in workers.Where(w => !w.HasExited))
            {
                using var term = Process.Start("kill", ["-TERM", w.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
                await term.WaitForExitAsync(CancellationToken.None);
                if (!await WaitExitAsync(w, TimeSpan.FromSeconds(90))) w.Kill(true);
                notes.Add($"final SIGTERM: exit {(w.HasExited ? w.ExitCode : -1)}");
            }
            var ledger = await LedgerAsync(FaultScenario.BrokerNodeLoss, jobs, store, fleet, false, clock.Elapsed, notes);
            var outages = windows.Select(w => new OutageWindow(w.What, w.Node, w.From, w.To - w.From, w.Before, w.Settled, w.BeforeStart, w.After,
                LongestStall(samples, w.From, w.To), refusals.Count(r => r >= w.From && r <= w.To))).ToList();
            return new ClusterRun(ledger, outages, posts, refusals.Count, replicas);
        }
        finally
        {
            await stop.CancelAsync();
            foreach (var w in workers)
            {
                if (!w.HasExited) w.Kill(true);
                w.Dispose();
            }
            await DeleteQueuesAsync(prefix);
        }
    }

    public const string FirstNode = "first node of the list";
    public const string LeadersNode = "queue leader's node";
    public const string RollingRestart = "rolling restart";

    /// <summary>The cluster the lab stops nodes of (set before <see cref="RunClusterAsync"/>).</summary>
    public BrokerCluster? Cluster { get; init; }

    private BrokerCluster RequireCluster() => Cluster ?? throw new InvalidOperationException("set FaultLab.Cluster to run the cluster scenario");

    /// <summary>The longest stretch in [from, to] without a new outcome, from the samples (time, outcomes so far).</summary>
    internal static double LongestStall(IReadOnlyList<(double At, int Outcomes)> samples, double from, double to)
    {
        var window = samples.Where(s => s.At >= from && s.At <= to).ToList();
        var last = from;
        var longest = 0.0;
        var previous = samples.LastOrDefault(s => s.At < from).Outcomes;
        foreach (var (at, outcomes) in window)
        {
            if (outcomes > previous)
            {
                longest = Math.Max(longest, at - last);
                last = at;
            }
            previous = outcomes;
        }
        return Math.Max(longest, to - last);
    }
}
