using System.CommandLine;
using System.Globalization;
using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Models;
using IngestFleet.Messaging;
using IngestFleet.Messaging.Broker;
using IngestFleet.Messaging.Limits;
using IngestFleet.ServiceDefaults;
using IngestFleet.Storage;
using IngestFleet.Storage.S3;
using IngestFleet.Operations.Acceptance;
using IngestFleet.Worker.Bundles;
using IngestFleet.Worker.Fetching;
using IngestFleet.Worker.Hosting;
using IngestFleet.Worker.Profiles;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace IngestFleet.Cli.Commands;

/// <summary>The SRE's commands for rented nodes: soak, accept, plan.</summary>
internal static class SreCommands
{
    private static readonly string[] ImageExtensions = [".jpg", ".jpeg", ".png", ".webp"];

    /// <summary>Where a fleet-mode soak uploads its images in the fleet bucket.</summary>
    private const string SoakImagesPrefix = "soak/images/";

    private static Option<TimeSpan> DurationOption(string name, string description, TimeSpan? fallback = null)
    {
        var o = new Option<TimeSpan>(name)
        {
            Description = description,
            CustomParser = r => Durations.TryParse(r.Tokens.Count > 0 ? r.Tokens[0].Value : null, out var v) ? v
                : Fail<TimeSpan>(r, $"{name} {(r.Tokens.Count > 0 ? r.Tokens[0].Value : "")}: use 90s, 15m, 6h or ISO 8601 (PT6H)"),
        };
        if (fallback is { } f) o.DefaultValueFactory = _ => f;
        else o.Required = true;
        return o;
    }

    private static T Fail<T>(System.CommandLine.Parsing.ArgumentResult r, string message)
    {
        r.AddError(message);
        return default!;
    }

    public static Command Soak()
    {
        var curve = new Option<string>("--curve") { Description = "A curve CSV (offset_seconds, then jobs/s per priority class) or a built-in: steady, production", Required = true };
        var duration = DurationOption("--duration", "How long to drive the curve: 6h for sign-off, 1m for a smoke test");
        var window = DurationOption("--window", "Report window (default: a twelfth of the duration)", TimeSpan.Zero);
        var images = new Option<string?>("--images") { Description = "Folder of images to embed (default: the repository's sample photos)" };
        var model = CommonOptions.Model();
        var ep = CommonOptions.Ep();
        var threads = CommonOptions.Threads();
        var batch = new Option<int?>("--batch") { Description = "Batch size = prefetch (else the profile's or 16)" };
        var profile = new Option<string?>("--profile") { Description = "The tuned profile to soak with (the accept baseline)" };
        var output = new Option<string>("--out") { Description = "Folder for soak.json, the charts and soak.html", DefaultValueFactory = _ => "soak-out" };
        var embedded = new Option<bool>("--embedded") { Description = "Run the in-process fleet (in-memory transport, local store) instead of the real broker and S3" };
        var saturation = new Option<int>("--saturation-batches")
        {
            Description = "Full batches of the curve's most urgent class published at once after the curve, so the tuned cell is measured on full batches (0: none)",
            DefaultValueFactory = _ => 40,
        };
        var prefix = new Option<string>("--queue-prefix") { Description = "Queue prefix for the soak's queues on the real broker", DefaultValueFactory = _ => "ingestfleet-soak-" };
        var connection = new FleetConnection();
        var cmd = new Command("soak", "Drive a production batch curve through this node's worker; write soak.json, charts (PNG) and soak.html. Ctrl-C ends it with a partial report.")
        {
            curve, duration, window, images, model, ep, threads, batch, profile, output, embedded, saturation, prefix,
        };
        connection.AddTo(cmd);
        cmd.SetAction((p, ct) => CliErrors.Guard(async () =>
        {
            var d = p.GetValue(duration);
            if (d <= TimeSpan.Zero) throw new CliInputException("--duration must be above 0.", ExitCodes.Usage);
            SoakCurve soakCurve;
            try { soakCurve = SoakCurve.Load(p.GetValue(curve)!, d); }
            catch (Exception e) when (e is FormatException or FileNotFoundException) { throw new CliInputException(e.Message); }
            var dir = p.GetValue(images) ?? TuneCommand.FindSamplePhotos()
                ?? throw new CliInputException("no --images folder given and no tests/data/photos above the current folder.", ExitCodes.Usage);
            var files = Directory.Exists(dir)
                ? Directory.GetFiles(dir).Where(f => ImageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant())).Order(StringComparer.Ordinal).ToList()
                : throw new CliInputException($"--images {dir}: no such folder.", ExitCodes.Usage);
            if (files.Count == 0) throw new CliInputException($"--images {dir}: no .jpg, .png or .webp files.");
            var outDir = Path.GetFullPath(p.GetValue(output)!);
            Directory.CreateDirectory(outDir);

            var overrides = new Dictionary<string, string?>(connection.Overrides(p))
            {
                [$"{FleetOptions.SectionName}:QueuePrefix"] = p.GetValue(prefix),
                [$"{LimitsOptions.SectionName}:ShedEnabled"] = "false", // the soak's own queues are never shed
            };
            if (CommonOptions.Given(p, ep)) overrides[$"{EmbedderOptions.SectionName}:ExecutionProvider"] = p.GetValue(ep).Name();
            if (p.GetValue(model) is { } m) overrides[WorkerModels.ModelKey] = m;
            if (p.GetValue(threads) is > 0 and var t) overrides[$"{EmbedderOptions.SectionName}:IntraOpThreads"] = t.ToString(CultureInfo.InvariantCulture);
            if (p.GetValue(batch) is { } b) overrides[$"{FleetOptions.SectionName}:BatchSize"] = b.ToString(CultureInfo.InvariantCulture);
            if (p.GetValue(profile) is { } pf) overrides["IngestFleet:Profile"] = pf;
            var isEmbedded = p.GetValue(embedded);
            var spec = new WorkerHostSpec
            {
                Transport = isEmbedded ? FleetTransport.InMemory : FleetTransport.RabbitMq, ServiceName = "ingestfleet-soak", Options = overrides,
                LocalStoreDirectory = Path.Combine(outDir, "store"), MinimumLevel = LogLevel.Warning,
            };
            var builder = WorkerHostFactory.CreateBuilder(spec);
            if (!isEmbedded && builder.Configuration.GetSection(SourcePolicyOptions.SectionName).Get<SourcePolicyOptions>() is var policy
                && (policy is null || policy.Enforced || policy.RequireAllowList))
            {
                // The soak's own tenant reads only the images the soak uploads (soak/images/ in the fleet bucket), so its
                // worker passes the allow-list check; a fleet that opted out of allow-lists is left as it is.
                var bucket = builder.Configuration[$"{S3Options.SectionName}:Bucket"] is { Length: > 0 } configured ? configured : new S3Options().Bucket;
                builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
                {
                    [$"{SourcePolicyOptions.SectionName}:S3Sources:{SoakRunner.Tenant}:0"] = $"{bucket}/{SoakImagesPrefix}*",
                });
            }
            using var host = await FleetCommands.BuildWorkerHostAsync(spec, ct, builder);
            var manifest = host.Services.GetRequiredService<ModelManifest>();
            List<string> uris;
            if (isEmbedded) uris = files.Select(f => new Uri(f).AbsoluteUri).ToList();
            else
            {
                try { await WorkerStartup.PrepareAsync(host.Services, ct); }
                catch (FleetUnreachableException e) { throw new CliInputException(e.Message, ExitCodes.Infrastructure); }
                var store = host.Services.GetRequiredService<IObjectStore>();
                var bucket = host.Services.GetRequiredService<S3Options>().Bucket;
                foreach (var f in files)
                    await store.PutAsync($"{SoakImagesPrefix}{Path.GetFileName(f)}", await File.ReadAllBytesAsync(f, ct), "image/jpeg", ct);
                uris = files.Select(f => $"s3://{bucket}/{SoakImagesPrefix}{Uri.EscapeDataString(Path.GetFileName(f))}").ToList();
            }
            Console.WriteLine($"soak: curve {soakCurve.Name} ({string.Join(", ", soakCurve.Classes)}) for {Durations.Format(d)} on {manifest.Revision}, " +
                              $"{(isEmbedded ? "embedded" : "broker + S3")}, {uris.Count} images; Ctrl-C stops with a partial report");
            var lastShown = -1;
            var report = await SoakRunner.RunAsync(host, new SoakSettings(soakCurve, d, uris, p.GetValue(window), isEmbedded ? "embedded" : "fleet", Math.Max(0, p.GetValue(saturation))), pr =>
            {
                var pct = (int)Math.Min(100, pr.Elapsed / pr.Duration * 100);
                if (!Console.IsOutputRedirected)
                    Console.Write($"\r  {pct,3}%  {Durations.Format(pr.Elapsed)} of {Durations.Format(pr.Duration)}: {pr.Published} published, {pr.Done} done, {pr.DeadLettered} dead-lettered   ");
                else if (pct / 10 != lastShown)
                {
                    lastShown = pct / 10;
                    Console.WriteLine($"  {pct,3}%: {pr.Published} published, {pr.Done} done");
                }
            }, ct);
            if (!Console.IsOutputRedirected) Console.WriteLine();
            var reportPath = Path.Combine(outDir, "soak.json");
            await File.WriteAllTextAsync(reportPath, report.ToJson(), CancellationToken.None);
            var charts = SoakCharts.Write(report, outDir);
            Console.WriteLine($"{(report.Completed ? "completed" : "stopped early (partial report)")}: {report.Totals.Published} published, {report.Totals.Embedded} embedded, " +
                              $"{report.Totals.DeadLettered} dead-lettered in {report.Totals.Batches} batches over {report.RanSeconds:0} s");
            Console.WriteLine($"wrote {reportPath}, {Path.Combine(outDir, "soak.html")} and {charts.Count} charts");
            Console.WriteLine($"sign off: ingestfleet accept --baseline PROFILE.json --soak {reportPath}");
            return report.Completed ? ExitCodes.Ok : ExitCodes.Interrupted;
        }));
        return cmd;
    }

    public static Command Accept()
    {
        var baseline = new Option<string>("--baseline") { Description = "profile.json from ingestfleet tune on the local reference machine", Required = true };
        var soak = new Option<string>("--soak") { Description = "soak.json from ingestfleet soak on the node", Required = true };
        var billing = new Option<string?>("--billing") { Description = "CSV of what the node was billed: node_id,billed_start,billed_end or node_id,billed_minutes" };
        var tolerance = new Option<double>("--tolerance") { Description = "How much slower than the local p95 the node may be (see the README: a soak's p95 runs up to ~1.2 × tune's on a healthy 2-core node)", DefaultValueFactory = _ => 0.30 };
        var billingTolerance = new Option<double>("--billing-tolerance") { Description = "Billed minutes vs the fleet's wall clock", DefaultValueFactory = _ => NodeAcceptance.DefaultBillingTolerance };
        var model = CommonOptions.Model();
        var json = new Option<bool>("--json") { Description = "Print the report as JSON" };
        var html = new Option<string?>("--html") { Description = "Also write the report as an HTML page" };
        var fromStore = new Option<bool>("--lifecycle-from-store")
        {
            Description = "Read the node's lifecycle from the bucket now (every worker process on it, the daemon's stop included) instead of the soak report's copy",
        };
        var connection = new FleetConnection();
        var cmd = new Command("accept", "Sign a node off: every gate with its measured value, limit and verdict; exits 0 only when all pass (9 otherwise)")
        {
            baseline, soak, billing, tolerance, billingTolerance, model, json, html, fromStore,
        };
        connection.AddTo(cmd);
        cmd.SetAction((p, ct) => CliErrors.Guard(async () =>
        {
            if (p.GetValue(tolerance) is < 0 or > 10) throw new CliInputException("--tolerance: a fraction such as 0.10", ExitCodes.Usage);
            TunedProfile profile;
            SoakReport report;
            IReadOnlyList<BillingRecord>? bills = null;
            try
            {
                profile = TunedProfile.Load(p.GetValue(baseline)!);
                report = SoakReport.Load(p.GetValue(soak)!);
                if (p.GetValue(billing) is { } path) bills = BillingRecord.Load(path);
            }
            catch (Exception e) when (e is ProfileException or FormatException or FileNotFoundException)
            {
                throw new CliInputException(e.Message);
            }
            if (p.GetValue(fromStore))
            {
                // The billing period usually ends after the soak: the daemon's own stop is in the bucket, not in soak.json.
                var config = FleetConnection.Configuration(connection.Overrides(p));
                using var store = new IngestFleet.Storage.S3.S3ObjectStore(FleetConnection.Bind<IngestFleet.Storage.S3.S3Options>(config, IngestFleet.Storage.S3.S3Options.SectionName));
                report = report with { Lifecycle = await IngestFleet.Worker.Node.NodeLifecycle.ReadAsync(store, report.Node.Id, ct) };
            }
            var manifest = ModelLocator.Load(p.GetValue(model) ?? profile.ModelRevision);
            var gates = NodeAcceptance.Evaluate(profile, report, manifest, p.GetValue(tolerance), bills, p.GetValue(billingTolerance));
            Console.Write(p.GetValue(json) ? NodeAcceptance.ToJson(gates, report) + Environment.NewLine : NodeAcceptance.ToText(gates));
            if (p.GetValue(html) is { } htmlPath) await File.WriteAllTextAsync(htmlPath, NodeAcceptance.ToHtml(gates, report), ct);
            return NodeAcceptance.Passed(gates) ? ExitCodes.Ok : ExitCodes.NotAccepted;
        }));
        return cmd;
    }

    public static Command Plan()
    {
        var backlog = new Option<long?>("--backlog") { Description = "Images waiting to be embedded" };
        var live = new Option<bool>("--live") { Description = "Read the backlog from the broker (ready + unacked over every priority queue)" };
        var rate = new Option<double?>("--rate") { Description = "Steady arrival rate, images/s (instead of a backlog)" };
        var nodeRate = new Option<double?>("--node-rate") { Description = "Images/s one node sustains" };
        var soak = new Option<string?>("--soak") { Description = "An accepted soak.json: node rate (and cold start) from it" };
        var slo = DurationOption("--slo", "Drain the backlog within this (or plan a rate for this long)");
        var price = new Option<double>("--price-per-hour") { Description = "Price of one node-hour", DefaultValueFactory = _ => 0 };
        var minRental = new Option<double>("--min-rental-hours") { Description = "Minimum billed hours per node (EC2 Mac: 24)", DefaultValueFactory = _ => 0 };
        var coldStart = new Option<TimeSpan?>("--cold-start")
        {
            Description = "Time from renting a node to its first vector (else the soak's process start → first vector, else 0)",
            CustomParser = r => Durations.TryParse(r.Tokens.Count > 0 ? r.Tokens[0].Value : null, out var v) ? v : Fail<TimeSpan?>(r, "--cold-start: use 90s, 15m, 6h"),
        };
        var json = new Option<bool>("--json") { Description = "Print the plan as JSON" };
        var connection = new FleetConnection();
        var cmd = new Command("plan", "Nodes needed to meet an SLO, time to drain, node-hours and cost (minimum rentals and cold start included)")
        {
            backlog, live, rate, nodeRate, soak, slo, price, minRental, coldStart, json,
        };
        connection.AddTo(cmd);
        cmd.SetAction((p, ct) => CliErrors.Guard(async () =>
        {
            SoakReport? report = null;
            if (p.GetValue(soak) is { } soakPath)
            {
                try { report = SoakReport.Load(soakPath); }
                catch (Exception e) when (e is FormatException or FileNotFoundException) { throw new CliInputException(e.Message); }
            }
            var perNode = p.GetValue(nodeRate) ?? (report is { RanSeconds: > 0 } r ? r.Totals.Embedded / r.RanSeconds : (double?)null)
                ?? throw new CliInputException("give --node-rate IMAGES_PER_S or --soak soak.json", ExitCodes.Usage);
            var cold = p.GetValue(coldStart) ?? ColdStart(report) ?? TimeSpan.Zero;
            long? items = p.GetValue(backlog);
            if (p.GetValue(live))
            {
                var config = FleetConnection.Configuration(connection.Overrides(p));
                var fleet = FleetConnection.Bind<FleetOptions>(config, FleetOptions.SectionName);
                var rabbit = FleetConnection.Bind<RabbitMqOptions>(config, RabbitMqOptions.SectionName);
                await using var link = new BrokerLink(rabbit, "ingestfleet-plan");
                using var monitor = new QueueMonitor(link, rabbit, fleet, new LimitsOptions(), TimeProvider.System, NullLogger<QueueMonitor>.Instance);
                var snapshot = await monitor.GetAsync(ct, fresh: true);
                if (!snapshot.BrokerReachable) throw new CliInputException(snapshot.BrokerError!, ExitCodes.Infrastructure);
                items = snapshot.Queues.Values.Sum(q => q.Depth);
            }
            if ((items is null) == (p.GetValue(rate) is null))
                throw new CliInputException("give one of --backlog N, --live or --rate IMAGES_PER_S", ExitCodes.Usage);
            FleetPlan plan;
            try
            {
                plan = FleetPlanner.Plan(new PlanRequest(items, p.GetValue(rate), perNode, p.GetValue(slo), p.GetValue(price), p.GetValue(minRental), cold));
            }
            catch (ArgumentException e)
            {
                throw new CliInputException(e.Message, ExitCodes.Usage);
            }
            if (p.GetValue(json))
                Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(new
                {
                    nodes = plan.Nodes, time_to_drain_seconds = plan.TimeToDrain.TotalSeconds, billed_hours_per_node = plan.BilledHoursPerNode,
                    node_hours = plan.NodeHours, cost = plan.Cost, utilization = plan.Utilization, node_rate = perNode, cold_start_seconds = cold.TotalSeconds,
                    backlog = items, steps = plan.Steps,
                }, SoakReport.Json));
            else
            {
                Console.WriteLine($"{plan.Nodes} node(s); {(items is not null ? $"drains {items} images in {Durations.Format(plan.TimeToDrain)}" : $"keeps up at {plan.Utilization:P0} utilization")}; " +
                                  $"{plan.NodeHours:0.##} node-hours billed; cost {plan.Cost:0.##}");
                foreach (var s in plan.Steps) Console.WriteLine($"  {s}");
            }
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    private static TimeSpan? ColdStart(SoakReport? report)
    {
        var start = report?.Lifecycle.FirstOrDefault(e => e.Event == "process_start");
        var first = report?.Lifecycle.FirstOrDefault(e => e.Event == "first_vector");
        return start is not null && first is not null ? first.At - start.At : null;
    }
}
