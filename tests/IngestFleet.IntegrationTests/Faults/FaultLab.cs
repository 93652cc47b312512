// Test harness: the lab owns the processes and servers it starts and disposes them in its finally blocks (CA2000);
// endpoints are configuration strings as the services export them (CA1054); stores stay behind the interface (CA1859).
#pragma warning disable CA2000, CA1054, CA1859
using System.Diagnostics;
using System.Text;
using IngestFleet.Contracts;
using IngestFleet.Messaging;
using IngestFleet.Messaging.Broker;
using IngestFleet.Messaging.Publishing;
using IngestFleet.Storage;
using IngestFleet.Storage.Resilience;
using IngestFleet.Storage.S3;
using IngestFleet.Tests.Worker;
using IngestFleet.VectorStore;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace IngestFleet.Faults;

/// <summary>The faults an operator meets, each run against real worker processes, the real broker and a real S3 server.</summary>
public enum FaultScenario
{
    /// <summary>kill -9 of a worker twice mid-run; a third worker finishes.</summary>
    KillNine,
    /// <summary>The broker's application stopped for 10 s mid-run (<c>rabbitmqctl stop_app</c> / <c>start_app</c>).</summary>
    BrokerRestart,
    /// <summary>The S3 server (store and image source) killed for 12 s mid-run and restarted on the same data.</summary>
    S3Outage,
    /// <summary>SIGTERM to a worker mid-run, twice, with a delivery limit of 1: each drains and exits 0, nothing turns poison.</summary>
    SigTerm,
    /// <summary>A batch that kills its worker every time (kill -9 while a slow fetch is in flight), past a delivery limit of 2.</summary>
    Poison,
    /// <summary>Item ids at the contract's limit in multi-byte characters, mixed into ordinary batches.</summary>
    LongIds,
    /// <summary>Endless, stalled, dripping and 503 HTTPS bodies mixed into batches of good photos.</summary>
    HostileBodies,
    /// <summary>A 3-node broker cluster (<see cref="BrokerCluster"/>): the node holding the queue's leader stopped for a
    /// minute, then the node named first in the list, then a rolling restart of all three; jobs keep arriving through the
    /// gateway meanwhile (<see cref="FaultLab.RunClusterAsync"/>).</summary>
    BrokerNodeLoss,
}

/// <summary>Where the fleet's services are and how to stop them.</summary>
public sealed record FaultEnvironment(string RabbitUri, string ManagementUri, string S3Endpoint, string S3AccessKey, string S3SecretKey, string? S3rverBin,
    string? RabbitMqCtl, string CliDll, string PhotosDir)
{
    /// <summary>From the variables <c>.ci/services.sh</c> exports; null when the services are not configured.</summary>
    public static FaultEnvironment? FromEnvironment(string cliDll, string photosDir)
    {
        var rabbit = Environment.GetEnvironmentVariable("INGESTFLEET_TEST_RABBITMQ");
        var s3 = Environment.GetEnvironmentVariable("INGESTFLEET_TEST_S3");
        if (string.IsNullOrEmpty(rabbit) || string.IsNullOrEmpty(s3)) return null;
        return new FaultEnvironment(rabbit, Environment.GetEnvironmentVariable("INGESTFLEET_TEST_RABBITMQ_MANAGEMENT") ?? "http://127.0.0.1:15672", s3,
            "S3RVER", "S3RVER", Environment.GetEnvironmentVariable("INGESTFLEET_TEST_S3RVER"), Environment.GetEnvironmentVariable("INGESTFLEET_TEST_RABBITMQCTL"),
            cliDll, photosDir);
    }
}

/// <summary>One scenario's ledger: every item must end as exactly one vector or one dead letter, nothing may stay in
/// any queue, and no valid photo may be dead-lettered because of an infrastructure fault.</summary>
public sealed record LedgerRow(FaultScenario Scenario, int Items, int Vectors, int DeadLetters, IReadOnlyDictionary<string, int> Reasons, int Missing,
    int Both, long LeftInQueues, int ValidPhotosDeadLetteredByInfrastructure, double Seconds, IReadOnlyList<string> Notes)
{
    public bool Holds => Missing == 0 && Both == 0 && LeftInQueues == 0 && ValidPhotosDeadLetteredByInfrastructure == 0;

    public static string Header => $"{"scenario",-14} {"items",6} {"vectors",8} {"dead",6} {"missing",8} {"both",5} {"queued",7} {"infra-DL",9} {"s",6}  reasons";

    public override string ToString() =>
        $"{Scenario,-14} {Items,6} {Vectors,8} {DeadLetters,6} {Missing,8} {Both,5} {LeftInQueues,7} {ValidPhotosDeadLetteredByInfrastructure,9} {Seconds,6:0} " +
        $" {string.Join(", ", Reasons.OrderBy(r => r.Key, StringComparer.Ordinal).Select(r => $"{r.Key}={r.Value}"))}" + (Notes.Count > 0 ? $"  [{string.Join("; ", Notes)}]" : "");
}

/// <summary>
/// Runs one <see cref="FaultScenario"/> end to end: its own queues and bucket (and, for the S3 outage, its own S3
/// server), real <c>ingestfleet worker</c> processes, the fault, then the ledger check. Used by the integration tests
/// (tens of items) and by the <c>faults</c> benchmark (2,000 items).
/// </summary>
public sealed partial class FaultLab(FaultEnvironment env, Action<string>? log = null)
{
    private static readonly string[] PhotoNames = ["astronaut.jpg", "chelsea.jpg", "coffee.jpg", "motorcycle_left.jpg", "rocket.jpg"];
    private const string Revision = "clip-tiny-r1";

    public async Task<LedgerRow> RunAsync(FaultScenario scenario, int items, int batch, TimeSpan timeout)
    {
        var id = Guid.NewGuid().ToString("N")[..8];
        var prefix = $"fault-{id}-";
        var bucket = $"fault-{id}";
        var notes = new List<string>();
        S3rverProcess? privateS3 = null;
        HostileHttpsServer? hostile = null;
        var workers = new List<Process>();
        var started = Stopwatch.StartNew();
        try
        {
            var s3Endpoint = env.S3Endpoint;
            if (scenario == FaultScenario.S3Outage)
            {
                privateS3 = await S3rverProcess.StartAsync(env.S3rverBin ?? throw new InvalidOperationException("the S3 outage needs INGESTFLEET_TEST_S3RVER (set by .ci/services.sh)"));
                s3Endpoint = privateS3.Endpoint;
            }
            using var s3 = new S3ObjectStore(new S3Options { ServiceUrl = s3Endpoint, Bucket = bucket, AccessKey = env.S3AccessKey, SecretKey = env.S3SecretKey, CreateBucket = true,
                ListObjectsVersion = 1 }); // s3rver's ListObjectsV2 fails past 1,000 keys
            await s3.ProbeAsync(CancellationToken.None);
            // The lab reads through the same retries as the fleet: s3rver answers 500 now and then under load, and the
            // S3 outage scenario reads while the server is down.
            var store = new ResilientObjectStore(s3, new StoreRetryOptions { BudgetSeconds = 120 });
            for (var i = 0; i < PhotoNames.Length; i++)
                await store.PutAsync($"img/{i}.jpg", await File.ReadAllBytesAsync(Path.Combine(env.PhotosDir, PhotoNames[i])), "image/jpeg", CancellationToken.None);
            if (scenario is FaultScenario.HostileBodies or FaultScenario.Poison)
                hostile = await HostileHttpsServer.StartAsync(await File.ReadAllBytesAsync(Path.Combine(env.PhotosDir, PhotoNames[0])));

            var fleet = new FleetOptions
            {
                QueuePrefix = prefix, BatchSize = batch,
                DeliveryLimit = scenario switch { FaultScenario.SigTerm => 1, FaultScenario.Poison => 2, _ => 10 },
            };
            var jobs = Jobs(scenario, items, batch, bucket, hostile);
            var settings = Settings(scenario, fleet, s3Endpoint, bucket);
            var rabbit = new RabbitMqOptions { Uri = env.RabbitUri, ManagementUri = env.ManagementUri };
            await FleetTopology.DeclareAsync(rabbit, fleet, CancellationToken.None);
            // The poison scenario publishes its poison batch alone first, so the killed worker always holds that batch.
            var first = scenario == FaultScenario.Poison ? batch : jobs.Count;
            await PublishAsync(rabbit, fleet, jobs.Take(first));
            log?.Invoke($"{scenario}: {first} of {jobs.Count} jobs published to {prefix}*");

            using var deadline = new CancellationTokenSource(timeout);
            var ct = deadline.Token;
            Process Start() => StartWorker(settings, workers);
            async Task WaitForOutcomes(int atLeast)
            {
                while (await CountOutcomesAsync(store, ct) < atLeast) await Task.Delay(200, ct);
            }

            switch (scenario)
            {
                case FaultScenario.KillNine or FaultScenario.SigTerm:
                    // Two strikes at a worker while it has work left (kill -9, or SIGTERM and the drain), then one finishes.
                    for (var round = 1; round <= 2; round++)
                    {
                        var before = await CountOutcomesAsync(store, ct);
                        if (before >= jobs.Count) break; // a fast machine finished the run before this round
                        var w = Start();
                        await WaitForOutcomes(Math.Min(before + Math.Min(batch, items / 6), jobs.Count));
                        var at = await CountOutcomesAsync(store, ct);
                        var struck = Stopwatch.StartNew();
                        if (scenario == FaultScenario.KillNine) w.Kill(entireProcessTree: true);
                        else using (var term = Process.Start("kill", ["-TERM", w.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) await term.WaitForExitAsync(ct);
                        await w.WaitForExitAsync(ct);
                        notes.Add(scenario == FaultScenario.KillNine
                            ? $"kill -9 #{round} at {at} of {jobs.Count} outcomes"
                            : $"SIGTERM #{round} at {at} of {jobs.Count} outcomes: exit {w.ExitCode} after {struck.Elapsed.TotalSeconds:0.0} s");
                    }
                    Start();
                    break;
                case FaultScenario.BrokerRestart:
                    Start();
                    await WaitForOutcomes(Math.Min(batch * 2, items / 3));
                    await RabbitCtlAsync("stop_app", ct);
                    await Task.Delay(TimeSpan.FromSeconds(10), ct);
                    await RabbitCtlAsync("start_app", ct);
                    notes.Add("broker stopped 10 s");
                    break;
                case FaultScenario.S3Outage:
                    Start();
                    await WaitForOutcomes(Math.Min(batch * 2, items / 3));
                    await privateS3!.StopAsync();
                    await Task.Delay(TimeSpan.FromSeconds(12), ct);
                    await privateS3.RestartAsync();
                    notes.Add("S3 server down 12 s");
                    break;
                case FaultScenario.Poison:
                    // The first batch holds a dripping fetch; kill its worker while the batch is in flight, until the broker
                    // gives up on those messages (delivery limit 2) and dead-letters them into the poison queue.
                    for (var round = 1; round <= fleet.DeliveryLimit + 1; round++)
                    {
                        var w = Start();
                        // The batch is in flight once its dripping fetch has started (the server counts the requests).
                        var until = DateTime.UtcNow.AddSeconds(60);
                        while (hostile!.DripCalls < round && DateTime.UtcNow < until) await Task.Delay(100, ct);
                        var held = hostile.DripCalls >= round;
                        w.Kill(entireProcessTree: true);
                        await w.WaitForExitAsync(ct);
                        await Task.Delay(TimeSpan.FromSeconds(1), ct);
                        notes.Add($"kill -9 #{round}{(held ? " holding the batch" : " (batch not held)")}");
                    }
                    await PublishAsync(rabbit, fleet, jobs.Skip(first));
                    Start();
                    break;
                default:
                    Start();
                    break;
            }
            await WaitForOutcomes(jobs.Count);
            // Outcomes can be complete while copies still sit in a queue (a duplicate delivery after a broker restart, held in
            // a worker's prefetch): wait for the queues too. The management API's counters for quorum queues lag by a few
            // seconds (more on a loaded machine), so empty must hold for 10 s before the workers are stopped.
            var emptySince = DateTime.UtcNow;
            while (DateTime.UtcNow - emptySince < TimeSpan.FromSeconds(10))
            {
                if (await LeftInQueuesAsync(fleet, ct) > 0) emptySince = DateTime.UtcNow;
                await Task.Delay(500, ct);
            }
            foreach (var w in workers.Where(w => !w.HasExited))
            {
                using var term = Process.Start("kill", ["-TERM", w.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
                await term.WaitForExitAsync(CancellationToken.None);
                if (!await WaitExitAsync(w, TimeSpan.FromSeconds(90))) w.Kill(true);
                notes.Add($"final SIGTERM: exit {(w.HasExited ? w.ExitCode : -1)}");
            }
            return await LedgerAsync(scenario, jobs, store, fleet, scenario == FaultScenario.Poison, started.Elapsed, notes);
        }
        finally
        {
            foreach (var w in workers)
            {
                if (!w.HasExited) w.Kill(true);
                w.Dispose();
            }
            if (hostile is not null) await hostile.DisposeAsync();
            if (privateS3 is not null) await privateS3.DisposeAsync();
            await DeleteQueuesAsync(prefix);
        }
    }

    private sealed record LabJob(EmbedCatalogImage Job, bool ValidPhoto);

    private static async Task PublishAsync(RabbitMqOptions rabbit, FleetOptions fleet, IEnumerable<LabJob> jobs)
    {
        var list = jobs.Select(j => j.Job).ToList();
        if (list.Count == 0) return;
        await using var link = new BrokerLink(rabbit, "fault-lab");
        var published = await new JobPublisher(link, rabbit, fleet, TimeProvider.System).PublishAsync(list, null, CancellationToken.None);
        if (published.Failed.Count > 0) throw new InvalidOperationException($"{published.Failed.Count} jobs were not confirmed by the broker");
    }

    private static List<LabJob> Jobs(FaultScenario scenario, int items, int batch, string bucket, HostileHttpsServer? hostile)
    {
        var jobs = new List<LabJob>();
        for (var i = 0; i < items; i++)
        {
            var itemId = $"item-{i:D5}";
            string image = $"s3://{bucket}/img/{i % PhotoNames.Length}.jpg";
            var valid = true;
            if (scenario == FaultScenario.LongIds && i % 4 == 0)
                itemId = (i / 4 % 3) switch
                {
                    0 => $"{i:D5}" + new string('商', JobValidator.MaxIdLength - 5),
                    1 => string.Concat(Enumerable.Repeat("😀", JobValidator.MaxIdLength - 3)) + $"{i % 1000:D3}",
                    _ => $"{i:D5}-" + new string('品', 110),
                };
            if (scenario == FaultScenario.HostileBodies && i % 8 < 4)
            {
                image = hostile!.Source((i % 8) switch { 0 => "endless.jpg", 1 => "stalled.jpg", 2 => "drip.jpg", _ => "unavailable.jpg" });
                valid = false;
            }
            if (scenario == FaultScenario.Poison && i == 0)
            {
                image = hostile!.Source("drip.jpg");
                valid = false;
            }
            jobs.Add(new LabJob(new EmbedCatalogImage { Tenant = "acme", Shard = $"s{i % 3}", ItemId = itemId, Image = image, Priority = "bulk" }, valid));
        }
        return jobs;
    }

    private Dictionary<string, string> Settings(FaultScenario scenario, FleetOptions fleet, string s3Endpoint, string bucket)
    {
        var s = new Dictionary<string, string>
        {
            ["IngestFleet__RabbitMq__Uri"] = env.RabbitUri,
            ["IngestFleet__RabbitMq__ManagementUri"] = env.ManagementUri,
            ["IngestFleet__S3__ServiceUrl"] = s3Endpoint,
            ["IngestFleet__S3__Bucket"] = bucket,
            ["IngestFleet__S3__AccessKey"] = env.S3AccessKey,
            ["IngestFleet__S3__SecretKey"] = env.S3SecretKey,
            ["IngestFleet__S3__ListObjectsVersion"] = "1",
            ["IngestFleet__Fleet__QueuePrefix"] = fleet.QueuePrefix,
            ["IngestFleet__Fleet__BatchSize"] = fleet.BatchSize.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["IngestFleet__Fleet__DeliveryLimit"] = fleet.DeliveryLimit.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["IngestFleet__Embedder__ExecutionProvider"] = "cpu",
            ["IngestFleet__Embedder__IntraOpThreads"] = "1",
            ["Logging__LogLevel__Default"] = "Warning",
            ["IngestFleet__SourcePolicy__RequireAllowList"] = "false", // one tenant, the lab's own bucket: the explicit opt-out
        };
        if (scenario == FaultScenario.S3Outage)
        {
            // A short store budget, so some batches outlast it and take the _error → requeue path as well.
            s["IngestFleet__StoreRetry__BudgetSeconds"] = "4";
        }
        if (scenario is FaultScenario.HostileBodies or FaultScenario.Poison)
        {
            s["IngestFleet__Fetch__TestOnlyAllowLoopback"] = "true";
            s["IngestFleet__Fetch__TimeoutSeconds"] = scenario == FaultScenario.Poison ? "120" : "2";
            s["IngestFleet__Fetch__TransientRetries"] = "1";
            s["IngestFleet__Fetch__RetryDelayMs"] = "100";
            // The endless body must pass the limit well inside one 2-s attempt even on busy cores (4 MiB over TLS once
            // took longer under a full CI run and ended as transient_exhausted); the photos are at most 131 KB.
            s["IngestFleet__Fetch__MaxBytes"] = (512 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        return s;
    }

    private Process StartWorker(Dictionary<string, string> settings, List<Process> workers)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.GetDirectoryName(env.CliDll)! };
        psi.ArgumentList.Add(env.CliDll);
        psi.ArgumentList.Add("worker");
        foreach (var (k, v) in settings) psi.Environment[k] = v;
        psi.Environment["NO_COLOR"] = "1";
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, e) => { if (e.Data is { Length: > 0 } line) log?.Invoke($"  worker {p.Id}: {line}"); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is { Length: > 0 } line) log?.Invoke($"  worker {p.Id}: {line}"); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        workers.Add(p);
        return p;
    }

    private static async Task<bool> WaitExitAsync(Process p, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await p.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private readonly Dictionary<string, string[]> _partItems = new(StringComparer.Ordinal);
    private int _polls;

    /// <summary>Items with a vector (distinct ids across the part files; each part read once, re-read now and then in
    /// case a redelivery added rows to it) plus dead-letter records: progress, not the ledger.</summary>
    private async Task<int> CountOutcomesAsync(IObjectStore store, CancellationToken ct)
    {
        if (++_polls % 20 == 0) _partItems.Clear();
        var items = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var key in store.ListAsync(StorageKeys.VectorsRoot + "/", ct))
        {
            if (!_partItems.TryGetValue(key, out var ids))
                _partItems[key] = ids = (await VectorParquet.ReadAsync(store, key, ct)).Select(r => $"{r.Tenant}/{r.Shard}/{r.ItemId}").ToArray();
            items.UnionWith(ids);
        }
        var n = items.Count;
        await foreach (var _ in store.ListAsync(StorageKeys.DeadLetterRoot + "/", ct)) n++;
        return n;
    }

    private async Task<LedgerRow> LedgerAsync(FaultScenario scenario, List<LabJob> jobs, IObjectStore store, FleetOptions fleet, bool poisonExpected,
        TimeSpan took, List<string> notes)
    {
        // The ledger reads the compacted view: redelivered rows collapse, stale dead letters of items with a vector go.
        var compaction = await new VectorCompactor(store).CompactAsync(StorageKeys.VectorsRoot + "/", null, CancellationToken.None);
        notes.Add($"compacted {compaction.InputFiles} part(s) into {compaction.OutputFiles}; {compaction.DuplicatesCollapsed} duplicate row(s) collapsed, " +
                  $"{compaction.StaleDeadLettersRemoved} stale dead letter(s) removed");
        foreach (var c in compaction.ConflictingItems) notes.Add($"conflict: {c}");
        var (rows, conflicts) = await VectorExporter.ReadAsync(store, StorageKeys.VectorsRoot + "/", CancellationToken.None);
        var vectors = rows.Select(r => $"{r.Tenant}/{r.ModelRevision}/{r.Shard}/{r.ItemId}").ToHashSet(StringComparer.Ordinal);
        var deadLetters = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var k in store.ListAsync(StorageKeys.DeadLetterRoot + "/", CancellationToken.None)) deadLetters.Add(k);
        int v = 0, d = 0, missing = 0, both = 0, infra = 0;
        var reasons = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (job, valid) in jobs)
        {
            var hasVector = vectors.Contains($"{job.Tenant}/{Revision}/{job.Shard}/{job.ItemId}");
            var dlKey = StorageKeys.DeadLetter(job, Revision);
            var hasDead = deadLetters.Contains(dlKey);
            if (hasVector) v++;
            if (hasDead)
            {
                d++;
                var record = DeadLetterRecord.FromJson((await store.GetAsync(dlKey, CancellationToken.None))!);
                if (!reasons.ContainsKey(record.Reason) && (!valid || record.Reason is ReasonCodes.TransientExhausted or ReasonCodes.Poison))
                    notes.Add($"{record.Reason}: {record.Detail[..Math.Min(record.Detail.Length, 400)]}");
                reasons[record.Reason] = reasons.GetValueOrDefault(record.Reason) + 1;
                if (record.Job.ItemId != job.ItemId) notes.Add($"record {dlKey} carries item id {record.Job.ItemId}");
                var infrastructure = record.Reason is ReasonCodes.TransientExhausted or ReasonCodes.FetchFailed || (record.Reason == ReasonCodes.Poison && !poisonExpected);
                if (valid && infrastructure) infra++;
            }
            if (hasVector && hasDead) both++;
            if (!hasVector && !hasDead) missing++;
        }
        var extra = vectors.Count + deadLetters.Count - v - d + conflicts.Count;
        if (extra != 0) notes.Add($"{extra} outcome object(s) for no job");
        return new LedgerRow(scenario, jobs.Count, v, d, reasons, missing, both, await LeftInQueuesAsync(fleet, CancellationToken.None), infra, took.TotalSeconds, notes);
    }

    /// <summary>Ready + unacknowledged messages in the work, _error, _skipped and poison queues.</summary>
    private async Task<long> LeftInQueuesAsync(FleetOptions fleet, CancellationToken ct)
    {
        long total = 0;
        var factory = new ConnectionFactory { Uri = new Uri(env.RabbitUri) };
        await using var connection = await factory.CreateConnectionAsync(ct);
        foreach (var queue in fleet.QueueNames().Concat(FleetTopology.ParkedQueueNames(fleet)))
        {
            await using var channel = await connection.CreateChannelAsync(cancellationToken: ct);
            try
            {
                total += (await channel.QueueDeclarePassiveAsync(queue, ct)).MessageCount;
            }
            catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
            {
                // never created: nothing there
            }
        }
        // Unacknowledged messages are held by a worker: count them through the management API.
        total += await UnackedAsync(fleet, ct);
        return total;
    }

    private async Task<long> UnackedAsync(FleetOptions fleet, CancellationToken ct)
    {
        using var http = new HttpClient();
        var auth = Convert.ToBase64String(Encoding.UTF8.GetBytes("guest:guest"));
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic", auth);
        long total = 0;
        foreach (var queue in fleet.QueueNames())
        {
            using var response = await http.GetAsync(new Uri($"{env.ManagementUri.TrimEnd('/')}/api/queues/%2F/{Uri.EscapeDataString(queue)}"), ct);
            if (!response.IsSuccessStatusCode) continue;
            using var doc = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync(ct));
            if (doc.RootElement.TryGetProperty("messages_unacknowledged", out var u)) total += u.GetInt64();
        }
        return total;
    }

    private async Task RabbitCtlAsync(string command, CancellationToken ct)
    {
        var ctl = env.RabbitMqCtl ?? throw new InvalidOperationException("the broker restart needs INGESTFLEET_TEST_RABBITMQCTL (set by .ci/services.sh)");
        using var p = Process.Start(new ProcessStartInfo(ctl, [command]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        await p.WaitForExitAsync(ct);
        if (p.ExitCode != 0) throw new InvalidOperationException($"rabbitmqctl {command} failed: {await p.StandardError.ReadToEndAsync(ct)}");
        if (command == "start_app")
        {
            using var wait = Process.Start(new ProcessStartInfo(ctl, ["await_startup"]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            await wait.WaitForExitAsync(ct);
        }
    }

    private async Task DeleteQueuesAsync(string prefix)
    {
        try
        {
            var factory = new ConnectionFactory { Uri = new Uri(env.RabbitUri) };
            await using var connection = await factory.CreateConnectionAsync();
            var fleet = new FleetOptions { QueuePrefix = prefix };
            foreach (var name in fleet.QueueNames().Concat(FleetTopology.ParkedQueueNames(fleet)).Append(prefix + "shedder-lock"))
            {
                await using var channel = await connection.CreateChannelAsync();
                await channel.QueueDeleteAsync(name, ifUnused: false, ifEmpty: false);
                await channel.ExchangeDeleteAsync(name, ifUnused: false);
            }
        }
#pragma warning disable CA1031 // clean-up is best effort
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }
}

/// <summary>A private s3rver (its own port and directory) that a scenario can kill and restart on the same data.</summary>
public sealed class S3rverProcess : IAsyncDisposable
{
    private readonly string _bin;
    private readonly string _dir;
    private readonly int _port;
    private Process? _process;

    private readonly Dictionary<string, string> _environment = [];
    private readonly List<string> _buckets = [];

    private S3rverProcess(string bin, string dir, int port) => (_bin, _dir, _port) = (bin, dir, port);

    public string Endpoint => $"http://127.0.0.1:{_port}";

    /// <summary>Where the server keeps its buckets (s3rver's filesystem store: KEY._S3rver_object, .md5, metadata.json).</summary>
    public string DataDirectory => _dir;

    /// <param name="bin">s3rver's launcher.</param>
    /// <param name="accessKeys">Key pairs the server accepts besides its own S3RVER:S3RVER (as an S3 server configured
    /// with those credentials does, MinIO's root user for example).</param>
    /// <param name="buckets">Buckets that exist from the start.</param>
    public static async Task<S3rverProcess> StartAsync(string bin, IReadOnlyDictionary<string, string>? accessKeys = null, IEnumerable<string>? buckets = null)
    {
        var port = IngestFleet.Tests.TestPorts.Free();
        var s = new S3rverProcess(bin, Directory.CreateTempSubdirectory("ingestfleet-s3rver-").FullName, port);
        // S3's read-after-write consistency (.ci/lib/s3rver-atomic.cjs), as .ci/services.sh gives the shared server.
        s._environment["NODE_OPTIONS"] = $"--require \"{Path.Combine(AppContext.BaseDirectory, "s3rver-atomic.cjs")}\"";
        if (accessKeys is { Count: > 0 })
        {
            s._environment["NODE_OPTIONS"] += $" --require \"{Path.Combine(AppContext.BaseDirectory, "s3rver-keys.cjs")}\"";
            s._environment["S3RVER_EXTRA_KEYS"] = string.Join(",", accessKeys.Select(kv => $"{kv.Key}:{kv.Value}"));
        }
        s._buckets.AddRange(buckets ?? []);
        await s.RestartAsync();
        return s;
    }

    public async Task RestartAsync()
    {
        var psi = new ProcessStartInfo(_bin) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--address", "127.0.0.1", "--port", _port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--directory", _dir, "--silent" })
            psi.ArgumentList.Add(a);
        foreach (var b in _buckets) { psi.ArgumentList.Add("--configure-bucket"); psi.ArgumentList.Add(b); }
        foreach (var (k, v) in _environment) psi.Environment[k] = v;
        _process = Process.Start(psi)!;
        for (var i = 0; i < 200; i++)
        {
            try
            {
                using var client = new System.Net.Sockets.TcpClient();
                await client.ConnectAsync(System.Net.IPAddress.Loopback, _port);
                return;
            }
            catch (System.Net.Sockets.SocketException)
            {
                await Task.Delay(100);
            }
        }
        throw new InvalidOperationException($"s3rver did not open port {_port}");
    }

    /// <summary>kill -9: the server vanishes mid-request, as a crashed or partitioned one does.</summary>
    public async Task StopAsync()
    {
        if (_process is null) return;
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        _process.Dispose();
        _process = null;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
