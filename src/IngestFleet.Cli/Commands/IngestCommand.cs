using System.CommandLine;
using IngestFleet.Operations.Catalogs;
using IngestFleet.Storage;
using IngestFleet.VectorStore;
using IngestFleet.Worker;
using IngestFleet.Worker.Bundles;
using IngestFleet.Messaging;
using IngestFleet.Worker.Processing;
using IngestFleet.Worker.Hosting;
using IngestFleet.Messaging.Publishing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Spectre.Console;
using IngestFleet.ServiceDefaults;
using IngestFleet.Embedding.Models;
using IngestFleet.Embedding.Inference;

namespace IngestFleet.Cli.Commands;

/// <summary>The embedded single-process mode: producer and worker in one process, in-memory transport, local store.</summary>
internal static class IngestCommand
{
    public static Command Build()
    {
        var catalog = new Argument<string>("CATALOG") { Description = "Catalog manifest (.jsonl or .csv); image paths may be relative to it" };
        var output = new Option<string>("--out", "-o") { Description = "Directory for vectors/ and dead-letter/ (same layout as S3)", DefaultValueFactory = _ => "ingestfleet-out" };
        var model = CommonOptions.Model();
        var ep = CommonOptions.Ep();
        var threads = CommonOptions.Threads();
        var batch = new Option<int>("--batch") { Description = "Batch size (else IngestFleet__Fleet__BatchSize, default 16)" };
        var cmd = new Command("ingest", "Embed a catalog in this process (no broker, no S3): the laptop mode") { catalog, output, model, ep, threads, batch };
        cmd.SetAction((p, ct) => CliErrors.Guard(async () =>
        {
            // Only options given on the command line override the environment and appsettings.json.
            var options = new Dictionary<string, string?>();
            if (CommonOptions.Given(p, batch)) options[$"{FleetOptions.SectionName}:BatchSize"] = p.GetValue(batch).ToString();
            if (CommonOptions.Given(p, ep)) options[$"{EmbedderOptions.SectionName}:ExecutionProvider"] = p.GetValue(ep).Name();
            if (CommonOptions.Given(p, threads)) options[$"{EmbedderOptions.SectionName}:IntraOpThreads"] = p.GetValue(threads).ToString();
            if (p.GetValue(model) is { } m) options[WorkerModels.ModelKey] = m;
            var outDir = Path.GetFullPath(p.GetValue(output)!);
            var spec = new WorkerHostSpec
            {
                Transport = FleetTransport.InMemory, ServiceName = "ingestfleet-embedded", Options = options, LocalStoreDirectory = outDir,
                MinimumLevel = LogLevel.Warning,
            };
            var builder = WorkerHostFactory.CreateBuilder(spec);
            var priorities = builder.Configuration.GetSection(FleetOptions.SectionName).Get<FleetOptions>()?.Priorities ?? new FleetOptions().Priorities;
            IReadOnlyList<IngestFleet.Contracts.EmbedCatalogImage> jobs;
            try
            {
                jobs = CatalogReader.Read(p.GetValue(catalog)!, new CatalogDefaults("default", "default", "normal", ""), priorities, embedded: true);
            }
            catch (CatalogException e)
            {
                throw new CliInputException($"{e.Message}\nNothing was embedded. Fix the lines above and run ingest again.");
            }
            // The in-memory bus consumes only the classes this catalog uses: a single-class catalog needs no second,
            // low-priority ORT session (and so no second copy of the weights).
            var used = jobs.Select(j => j.Priority).Distinct(StringComparer.Ordinal).ToArray();
            var consume = new Dictionary<string, string?>();
            for (var i = 0; i < used.Length; i++) consume[$"{FleetOptions.SectionName}:Consume:{i}"] = used[i];
            builder.Configuration.AddInMemoryCollection(consume);
            using var host = await FleetCommands.BuildWorkerHostAsync(spec, ct, builder);
            var manifest = host.Services.GetRequiredService<ModelManifest>();
            await host.StartAsync(ct);
            var ledger = host.Services.GetRequiredService<FleetLedger>();
            var publisher = host.Services.GetRequiredService<IJobPublisher>();
            var started = System.Diagnostics.Stopwatch.StartNew();
            var summary = await publisher.PublishAsync(jobs, null, ct);
            if (summary.Failed.Count > 0)
                throw new CliInputException($"{summary.Failed.Count} jobs could not be queued in memory: {summary.Failed[0].Error}", ExitCodes.Infrastructure);
            await FleetCommands.WithProgress($"embedding {jobs.Count} images with {manifest.Revision}", jobs.Count, async report =>
            {
                long last = 0;
                await ledger.WaitForAsync(jobs.Count, done => { report((int)(done - last)); last = done; }, ct);
                return true;
            });
            var elapsed = started.Elapsed; // every item has its vector or dead letter; stopping the host is not part of it
            await host.StopAsync(CancellationToken.None);
            host.Services.FlushTelemetry(TimeSpan.FromSeconds(30));

            var store = host.Services.GetRequiredService<IObjectStore>();
            var reasons = new Dictionary<string, int>();
            await foreach (var key in store.ListAsync(StorageKeys.DeadLetterRoot + "/", ct))
            {
                var record = DeadLetterRecord.FromJson((await store.GetAsync(key, ct))!);
                reasons[record.Reason] = reasons.GetValueOrDefault(record.Reason) + 1;
            }
            var vectors = ledger.Embedded + ledger.AlreadyPresent;
            AnsiConsole.MarkupLine($"[bold]{jobs.Count}[/] items in {elapsed.TotalSeconds:0.0} s: [green]{vectors} vectors[/] ({ledger.AlreadyPresent} already present), [red]{ledger.DeadLettered} dead letters[/]");
            Console.WriteLine($"  vectors:      {Path.Combine(outDir, StorageKeys.VectorsRoot)}/{{tenant}}/{manifest.Revision}/{{shard}}/part-{{hash}}.parquet (one per batch; `ingestfleet vectors export … --local {outDir}`)");
            Console.WriteLine($"  dead letters: {Path.Combine(outDir, StorageKeys.DeadLetterRoot)}/{{tenant}}/{manifest.Revision}/{{shard}}/{{item}}.json");
            foreach (var (reason, count) in reasons.OrderByDescending(r => r.Value))
                Console.WriteLine($"    {reason}: {count}");
            return ledger.DeadLettered == 0 ? ExitCodes.Ok : ExitCodes.SomeRejected;
        }));
        return cmd;
    }
}
