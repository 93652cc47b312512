using System.CommandLine;
using System.Text.Json;
using IngestFleet.Gateway;
using IngestFleet.Gateway.Security;
using IngestFleet.Messaging;
using IngestFleet.Messaging.Limits;
using IngestFleet.Messaging.Broker;
using IngestFleet.Operations.Replay;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Spectre.Console;
using IngestFleet.Embedding.Models;
using IngestFleet.Worker.Hosting;

namespace IngestFleet.Cli.Commands;

/// <summary>limits and gateway: the published queue limits, and the HTTP gateway that enforces them.</summary>
internal static class LimitsCommands
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static Command Limits()
    {
        var live = new Option<bool>("--live") { Description = "Also read each queue's current depth, consumers and estimated wait from the broker" };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table" };
        var connection = new FleetConnection();
        var cmd = new Command("limits", "Show (and validate) the published limits of every priority queue: max depth, resume depth, wait SLO, shed policy")
        {
            live, json,
        };
        connection.AddTo(cmd);
        cmd.SetAction((p, ct) => CliErrors.Guard(async () =>
        {
            var config = FleetConnection.Configuration(connection.Overrides(p));
            var fleet = FleetConnection.Bind<FleetOptions>(config, FleetOptions.SectionName);
            var options = ValidatedLimits(config, fleet);
            var limits = PublishedLimits.Resolve(fleet, options);
            DepthSnapshot? snapshot = null;
            string? managementProblem = null;
            if (p.GetValue(live))
            {
                var rabbit = FleetConnection.Bind<RabbitMqOptions>(config, RabbitMqOptions.SectionName);
                await using var broker = new BrokerLink(rabbit, "ingestfleet-limits");
                using var monitor = new QueueMonitor(broker, rabbit, fleet, options, TimeProvider.System, NullLogger<QueueMonitor>.Instance);
                snapshot = await monitor.GetAsync(ct);
                if (!snapshot.BrokerReachable)
                    throw new CliInputException($"{snapshot.BrokerError}. Start the broker or pass --broker / set IngestFleet__RabbitMq__Uri.", ExitCodes.Infrastructure);
                managementProblem = monitor.ManagementProblem;
            }
            if (p.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    queues = limits.Select(l => new { limit = l, current = snapshot?.Queues.GetValueOrDefault(l.Priority) }),
                    parked = snapshot?.Parked,
                    management_problem = managementProblem,
                    shard_ranks = options.ShardRanks,
                }, Indented));
                return ExitCodes.Ok;
            }
            var table = new Table().AddColumns("priority", "queue", "max depth", "resume depth", "wait SLO", "shed policy");
            if (snapshot is not null) table.AddColumns("depth", "consumers", "est. wait");
            foreach (var l in limits)
            {
                var row = new List<string> { l.Priority, l.Queue, $"{l.MaxDepth:N0}", $"{l.ResumeDepth:N0}", $"{l.WaitSloSeconds:G} s", l.ShedRank == 0 ? "never shed (429 only)" : $"shed rank {l.ShedRank}" };
                if (snapshot?.Queues.GetValueOrDefault(l.Priority) is { } s) row.AddRange([$"{s.Depth:N0}", $"{s.Consumers}", s.EstimatedWaitSeconds < 0 ? "unknown" : $"{s.EstimatedWaitSeconds:F1} s"]);
                table.AddRow(row.Select(Markup.Escape).ToArray());
            }
            AnsiConsole.Write(table);
            if (managementProblem is not null)
                Console.WriteLine($"management API: {managementProblem} (unacked messages and wait estimates unknown)");
            if (snapshot is not null)
                Console.WriteLine(snapshot.Parked.Count == 0 ? "parked: none (no poison, _error or _skipped messages)"
                    : "parked (the poison drain turns these into dead-letter records): " + string.Join(", ", snapshot.Parked.Select(kv => $"{kv.Key}={kv.Value}")));
            Console.WriteLine("Past max depth the gateway answers 429; a queue with a shed rank is shed (highest rank first, highest-ranked shards first)");
            Console.WriteLine("into S3 shed/{tenant}/{model-revision}/... until its depth is at or below resume depth. Replay with: ingestfleet replay shed/");
            if (options.ShardRanks.Count > 0)
                Console.WriteLine("shard ranks: " + string.Join(", ", options.ShardRanks.OrderByDescending(kv => kv.Value).Select(kv => $"{kv.Key}={kv.Value}")));
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    public static Command Gateway()
    {
        var urls = new Option<string?>("--urls") { Description = $"Where to listen (else ASPNETCORE_URLS, else {GatewayApp.DefaultUrls})" };
        var anonymous = new Option<bool>("--allow-anonymous") { Description = "Accept jobs without an API key, for any tenant (a development machine only)" };
        var connection = new FleetConnection();
        var cmd = new Command("gateway",
            "Run the HTTP ingest gateway: POST /v1/jobs (202/400/401/403/413/429/503), GET /v1/limits, GET /healthz. API keys: IngestFleet__Gateway__Auth__Keys__N__* or __KeysFile")
        {
            urls, anonymous,
        };
        connection.AddTo(cmd);
        cmd.SetAction((p, ct) => CliErrors.Guard(async () =>
        {
            var config = FleetConnection.Configuration(connection.Overrides(p));
            var fleet = FleetConnection.Bind<FleetOptions>(config, FleetOptions.SectionName);
            ValidatedLimits(config, fleet);
            // Only the command line's own options: the gateway host reads appsettings.json and the environment itself, below them.
            var options = connection.Overrides(p).ToList();
            if (p.GetValue(anonymous)) options.Add(new($"{GatewayAuthOptions.SectionName}:AllowAnonymous", "true"));
            WebApplication app;
            try
            {
                app = GatewayApp.Build(new GatewayHostSpec { Options = options, Urls = p.GetValue(urls) });
            }
            catch (InvalidOperationException e) when (e.Message.Contains("API key", StringComparison.Ordinal))
            {
                throw new CliInputException(e.Message, ExitCodes.BadInput);
            }
            await using var _ = app;
            await app.StartAsync(ct);
            Console.WriteLine($"ingestfleet gateway listening on {app.BoundAddress()}");
            await app.WaitForShutdownAsync(ct);
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    public static Command GatewayKey()
    {
        var tenants = new Option<string[]>("--tenant") { Description = "A tenant the key may submit for (repeat; * for every tenant)", Required = true, AllowMultipleArgumentsPerToken = true };
        var name = new Option<string?>("--name") { Description = "A name for logs (default: the first tenant)" };
        var cmd = new Command("gateway-key", "Create a gateway API key: prints the key once, and the entry (its SHA-256 and tenants) for the gateway's configuration") { tenants, name };
        cmd.SetAction(p =>
        {
            var key = "ifk_" + Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
            var entry = new ApiKeyEntry { Name = p.GetValue(name) ?? p.GetValue(tenants)![0], Sha256 = ApiKeyRegistry.Hash(key), Tenants = p.GetValue(tenants)! };
            Console.WriteLine($"key (give it to the producer; it is not stored anywhere): {key}");
            Console.WriteLine("entry (add it to keys.json, or as IngestFleet__Gateway__Auth__Keys__N__Name/Sha256/Tenants__M):");
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(entry));
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>The configured limits, or exit 6 listing every inconsistency by key.</summary>
    internal static LimitsOptions ValidatedLimits(IConfiguration config, FleetOptions fleet)
    {
        var options = FleetConnection.Bind<LimitsOptions>(config, LimitsOptions.SectionName);
        var errors = PublishedLimits.Validate(fleet, options);
        if (errors.Count > 0)
            throw new CliInputException("the published limits are inconsistent:\n  " + string.Join("\n  ", errors) +
                "\nFix them in appsettings.json or the IngestFleet__Limits__* environment variables.");
        return options;
    }
}
