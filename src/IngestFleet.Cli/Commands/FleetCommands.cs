using System.CommandLine;
using IngestFleet.Operations.Catalogs;
using IngestFleet.Embedding.Inference;
using IngestFleet.Storage;
using IngestFleet.Storage.S3;
using IngestFleet.Worker;
using IngestFleet.Messaging;
using IngestFleet.Worker.Bundles;
using IngestFleet.Worker.Hosting;
using IngestFleet.Messaging.Broker;
using IngestFleet.Messaging.Publishing;
using IngestFleet.Operations.Replay;
using IngestFleet.Messaging.Limits;
using IngestFleet.Contracts;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Spectre.Console;
using IngestFleet.ServiceDefaults;
using IngestFleet.Embedding.Models;

namespace IngestFleet.Cli.Commands;

/// <summary>publish, replay and worker: the commands that talk to RabbitMQ and S3.</summary>
internal static class FleetCommands
{
    public static Command Publish()
    {
        var catalog = new Argument<string>("CATALOG") { Description = "Catalog manifest: .jsonl objects or .csv with a header (item_id, image, tenant, shard, priority)" };
        var priority = new Option<string?>("--priority") { Description = "Priority for lines without one (default normal)" };
        var tenant = new Option<string?>("--tenant") { Description = "Tenant for lines without one (default default)" };
        var shard = new Option<string?>("--shard") { Description = "Shard for lines without one (default default)" };
        var revision = new Option<string?>("--model-revision") { Description = "Model revision the jobs ask for (default: the worker's)" };
        var connection = new FleetConnection();
        var cmd = new Command("publish", "Validate a catalog, then publish one job per line to its priority queue with publisher confirms")
        {
            catalog, priority, tenant, shard, revision,
        };
        connection.AddTo(cmd);
        cmd.SetAction((p, ct) => CliErrors.Guard(async () =>
        {
            var config = FleetConnection.Configuration(connection.Overrides(p));
            var fleet = FleetConnection.Bind<FleetOptions>(config, FleetOptions.SectionName);
            IReadOnlyList<IngestFleet.Contracts.EmbedCatalogImage> jobs;
            try
            {
                jobs = CatalogReader.Read(p.GetValue(catalog)!, new CatalogDefaults(p.GetValue(tenant) ?? "default", p.GetValue(shard) ?? "default",
                    p.GetValue(priority) ?? "normal", p.GetValue(revision) ?? ""), fleet.Priorities, embedded: false);
            }
            catch (CatalogException e)
            {
                throw new CliInputException($"{e.Message}\nNothing was published. Fix the lines above and run publish again.");
            }
            await using var broker = await ConnectAsync(config, fleet, ct);
            var publisher = new JobPublisher(broker.Link, broker.Rabbit, fleet, TimeProvider.System);
            var summary = await WithProgress($"publishing {jobs.Count} jobs", jobs.Count, report => publisher.PublishAsync(jobs, report, ct));
            foreach (var group in jobs.GroupBy(j => j.Priority))
                Console.WriteLine($"  {fleet.QueueName(group.Key)}: {group.Count()} jobs");
            Console.WriteLine($"{summary.Confirmed} confirmed, {summary.Failed.Count} not confirmed");
            foreach (var (job, error) in summary.Failed.Take(20))
                await Console.Error.WriteLineAsync($"  not confirmed: {job.Key}: {error}");
            return summary.Failed.Count == 0 ? ExitCodes.Ok : ExitCodes.Infrastructure;
        }));
        return cmd;
    }

    public static Command Replay()
    {
        var prefix = new Argument<string>("PREFIX") { Description = "Key prefix of parked jobs, e.g. dead-letter/acme/clip-tiny-r1/ or shed/acme/" };
        var revision = new Option<string?>("--model-revision") { Description = "Model revision to replay against (default: each job's own)" };
        var priority = new Option<string?>("--priority") { Description = "Queue to replay into (default: each job's original priority)" };
        var reason = new Option<string?>("--reason") { Description = "Only records with this reason code (e.g. transient_exhausted, poison, shed)" };
        var since = new Option<string?>("--since") { Description = "Only records that last failed at or after this time: an ISO-8601 time or a duration ago (30m, 24h, 7d)" };
        var dryRun = new Option<bool>("--dry-run") { Description = "Count what would be replayed; publish nothing" };
        var json = new Option<bool>("--json") { Description = "Print the summary as JSON" };
        var connection = new FleetConnection();
        var cmd = new Command("replay", "Republish dead-lettered or shed jobs under a prefix (streaming; pauses while a target queue is past its max depth) and mark them replayed once the broker confirmed them")
        {
            prefix, revision, priority, reason, since, dryRun, json,
        };
        connection.AddTo(cmd);
        cmd.SetAction((p, ct) => CliErrors.Guard(async () =>
        {
            var config = FleetConnection.Configuration(connection.Overrides(p));
            var fleet = FleetConnection.Bind<FleetOptions>(config, FleetOptions.SectionName);
            if (p.GetValue(priority) is { } pr && !fleet.Priorities.Contains(pr))
                throw new CliInputException($"--priority {pr} is not one of {string.Join(", ", fleet.Priorities)}.", ExitCodes.Usage);
            if (p.GetValue(reason) is { } rc && !ReasonCodes.All.Contains(rc))
                throw new CliInputException($"--reason {rc} is not a reason code; see `ingestfleet reasons` or the README's table.", ExitCodes.Usage);
            var filter = new ReplayFilter(p.GetValue(reason), ParseSince(p.GetValue(since)), p.GetValue(revision), p.GetValue(priority));
            using var store = new S3ObjectStore(FleetConnection.Bind<S3Options>(config, S3Options.SectionName));
            await Probe(store, ct);
            await using var broker = await ConnectAsync(config, fleet, ct);
            var limitsOptions = LimitsCommands.ValidatedLimits(config, fleet);
            using var monitor = new QueueMonitor(broker.Link, broker.Rabbit, fleet, limitsOptions, TimeProvider.System, NullLogger<QueueMonitor>.Instance);
            var service = new ReplayService(store, new JobPublisher(broker.Link, broker.Rabbit, fleet, TimeProvider.System), TimeProvider.System,
                monitor, PublishedLimits.Resolve(fleet, limitsOptions)) { Priorities = fleet.Priorities };
            var asJson = p.GetValue(json);
            ReplaySummary summary;
            if (asJson || Console.IsOutputRedirected)
            {
                summary = await service.ReplayAsync(p.GetValue(prefix)!, filter, p.GetValue(dryRun), null, ct);
            }
            else
            {
                summary = null!;
                await AnsiConsole.Progress().AutoClear(false).Columns(new TaskDescriptionColumn(), new SpinnerColumn(), new ElapsedTimeColumn())
                    .StartAsync(async ctx =>
                    {
                        var task = ctx.AddTask("replay");
                        task.IsIndeterminate = true;
                        summary = await service.ReplayAsync(p.GetValue(prefix)!, filter, p.GetValue(dryRun), r => task.Description =
                            $"replay: {r.Listed} records read, {r.Republished} republished{(r.Paused ? " (paused: target queue past its max depth)" : "")}", ct);
                        task.StopTask();
                    });
            }
            if (asJson)
            {
                Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(summary));
            }
            else
            {
                var verb = summary.DryRun ? "would republish" : "republished";
                Console.WriteLine($"{summary.Found} parked jobs under {p.GetValue(prefix)} in {store.Location}: {summary.Matched} matched the filter, " +
                    $"{summary.AlreadyReplayed} already replayed, {verb} {summary.Republished}, {summary.Failed} not confirmed, " +
                    $"{summary.NotReplayable} not replayable" +
                    (summary.PausedSeconds >= 1 ? $", paused {summary.PausedSeconds:0} s for queue limits" : ""));
                foreach (var e in summary.Errors.Take(20)) await Console.Error.WriteLineAsync($"  {e}");
            }
            // Not confirmed or unreadable: the infrastructure (a rerun retries); not replayable: the records themselves (exit 2).
            return summary.Failed > 0 || summary.Errors.Count > summary.NotReplayable ? ExitCodes.Infrastructure
                : summary.NotReplayable > 0 ? ExitCodes.SomeRejected : ExitCodes.Ok;
        }));
        return cmd;
    }

    /// <summary>--since: an absolute time, or a duration before now.</summary>
    internal static DateTimeOffset? ParseSince(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        if (DateTimeOffset.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var at)) return at;
        if (Durations.TryParse(text, out var ago)) return DateTimeOffset.UtcNow - ago;
        throw new CliInputException($"--since {text}: give an ISO-8601 time (2026-11-30T08:00Z) or a duration (30m, 24h, 7d).", ExitCodes.Usage);
    }

    public static Command Worker()
    {
        var model = CommonOptions.Model();
        var ep = CommonOptions.Ep();
        var threads = CommonOptions.Threads();
        var batch = new Option<int?>("--batch") { Description = "Batch size = message limit (else IngestFleet__Fleet__BatchSize, default 16)" };
        var inFlight = new Option<int?>("--batches-in-flight") { Description = "Batches held at once per queue; prefetch = batch × this (else IngestFleet__Fleet__BatchesInFlight, default 2)" };
        var healthPort = new Option<int?>("--health-port") { Description = "Serve GET /healthz on this port (else IngestFleet__Health__Port; 0 = off)" };
        var profile = new Option<string?>("--profile") { Description = "Tuned profile from `ingestfleet tune` (sets batch = prefetch and thread caps; else IngestFleet__Profile)" };
        var connection = new FleetConnection();
        var cmd = new Command("worker", "Run a fleet worker: consume the priority queues, embed, write vectors and dead letters to S3") { model, ep, threads, batch, inFlight, healthPort, profile };
        connection.AddTo(cmd);
        cmd.SetAction((p, ct) => CliErrors.Guard(async () =>
        {
            var overrides = new Dictionary<string, string?>(connection.Overrides(p));
            if (CommonOptions.Given(p, ep)) overrides[$"{EmbedderOptions.SectionName}:ExecutionProvider"] = p.GetValue(ep).Name();
            if (p.GetValue(model) is { } m) overrides[WorkerModels.ModelKey] = m;
            if (p.GetValue(threads) is > 0 and var t) overrides[$"{EmbedderOptions.SectionName}:IntraOpThreads"] = t.ToString();
            if (p.GetValue(batch) is { } b) overrides[$"{FleetOptions.SectionName}:BatchSize"] = b.ToString();
            if (p.GetValue(inFlight) is { } d) overrides[$"{FleetOptions.SectionName}:BatchesInFlight"] = d.ToString();
            if (p.GetValue(healthPort) is { } hp) overrides[$"{HealthOptions.SectionName}:Port"] = hp.ToString();
            if (p.GetValue(profile) is { } pf)
            {
                if (p.GetValue(batch) is not null || p.GetValue(threads) is > 0 || p.GetValue(inFlight) is not null)
                    throw new CliInputException("--profile sets the batch, the batches in flight and the thread caps; drop --batch/--batches-in-flight/--threads, or drop --profile to set them by hand.", ExitCodes.Usage);
                overrides["IngestFleet:Profile"] = pf;
            }
            using var host = await BuildWorkerHostAsync(new WorkerHostSpec { Options = overrides }, ct);
            try
            {
                await host.RunWorkerAsync(ct);
            }
            catch (FleetUnreachableException e)
            {
                throw new CliInputException(e.Message, ExitCodes.Infrastructure);
            }
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    /// <summary>A worker host from the one factory, with a bad model or profile turned into the CLI's exit codes.</summary>
    internal static async Task<IHost> BuildWorkerHostAsync(WorkerHostSpec spec, CancellationToken ct, Microsoft.Extensions.Hosting.HostApplicationBuilder? builder = null)
    {
        try
        {
            return await WorkerHostFactory.BuildAsync(builder ?? WorkerHostFactory.CreateBuilder(spec), spec, ct);
        }
        catch (ModelBundleException e)
        {
            throw new CliInputException(e.Message, ExitCodes.BadModel);
        }
        catch (IngestFleet.Worker.Profiles.ProfileException e)
        {
            throw new CliInputException(e.Message, ExitCodes.BadInput);
        }
    }

    /// <summary>A broker connection for a CLI command, after the topology is declared (so nothing published is lost).</summary>
    private static async Task<BrokerConnection> ConnectAsync(IConfiguration config, FleetOptions fleet, CancellationToken ct)
    {
        await DeclareTopology(config, fleet, ct);
        var rabbit = FleetConnection.Bind<RabbitMqOptions>(config, RabbitMqOptions.SectionName);
#pragma warning disable CA2000 // the connection record owns the link and disposes it
        return new BrokerConnection(new BrokerLink(rabbit, "ingestfleet-cli"), rabbit);
#pragma warning restore CA2000
    }

    private sealed record BrokerConnection(BrokerLink Link, RabbitMqOptions Rabbit) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Link.DisposeAsync();
    }

    private static async Task DeclareTopology(IConfiguration config, FleetOptions fleet, CancellationToken ct)
    {
        try
        {
            await WorkerStartup.DeclareTopologyAsync(FleetConnection.Bind<RabbitMqOptions>(config, RabbitMqOptions.SectionName), fleet, ct);
        }
        catch (FleetUnreachableException e)
        {
            throw new CliInputException(e.Message, ExitCodes.Infrastructure);
        }
    }

    private static async Task Probe(IObjectStore store, CancellationToken ct)
    {
        try
        {
            await WorkerStartup.ProbeStoreAsync(store, ct);
        }
        catch (FleetUnreachableException e)
        {
            throw new CliInputException(e.Message, ExitCodes.Infrastructure);
        }
    }

    internal static async Task<T> WithProgress<T>(string title, int total, Func<Action<int>, Task<T>> work)
    {
        if (Console.IsOutputRedirected)
            return await work(_ => { });
        T result = default!;
        await AnsiConsole.Progress().AutoClear(false).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .StartAsync(async ctx =>
            {
                var task = ctx.AddTask(title, maxValue: total);
                result = await work(n => task.Increment(n));
            });
        return result;
    }
}
