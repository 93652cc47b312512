using IngestFleet.Contracts;
using IngestFleet.Storage;
using IngestFleet.VectorStore;
using IngestFleet.Worker.Consumers;
using IngestFleet.Worker.Processing;
using IngestFleet.Worker.Hosting;
using IngestFleet.Messaging.Publishing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;

namespace IngestFleet.Benchmarks;

/// <summary>
/// Priority isolation: online latency (publish → vector written) while a bulk backlog saturates the node, divided by
/// online latency on an idle node; measured with priority scheduling on and, in the same run, off.
/// One worker process (2 cores), ViT-B/32-size tower, 2048-px catalog JPEGs from S3, real RabbitMQ.
/// </summary>
internal static class IsolationBenchmark
{
    private const int IntervalMs = 250;

    public static async Task RunAsync(bool quick)
    {
        var samples = quick ? 15 : 100;
        var rows = new List<(string Mode, double IdleP50, double IdleP95, double LoadP50, double LoadP95, long BulkDone)>();
        foreach (var scheduling in new[] { false, true })
            rows.Add(await MeasureAsync(scheduling, samples));
        Console.WriteLine();
        Console.WriteLine($"## Priority isolation: online latency, publish → vector in S3 ({samples} online jobs, one every {IntervalMs} ms; bulk backlog of 2048-px JPEGs; ViT-B/32-size tower; {Environment.ProcessorCount} cores)");
        Console.WriteLine("| priority scheduling | idle p50 | idle p95 | under bulk p50 | under bulk p95 | **p95 ratio (under bulk ÷ idle)** | bulk images done meanwhile |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (var r in rows)
            Console.WriteLine($"| {r.Mode} | {r.IdleP50 * 1000:0} ms | {r.IdleP95 * 1000:0} ms | {r.LoadP50 * 1000:0} ms | {r.LoadP95 * 1000:0} ms | **{r.LoadP95 / r.IdleP95:0.00}** | {r.BulkDone} |");
    }

    private static async Task<(string, double, double, double, double, long)> MeasureAsync(bool scheduling, int samples)
    {
        var rabbit = BenchPaths.RabbitUri;
        var manifest = BenchPaths.VitB32();
        var photos = BenchPaths.CatalogPhotos.Select(File.ReadAllBytes).ToArray();
        var bucket = $"iso-{Guid.NewGuid():N}"[..20];
        var prefix = $"iso-{Guid.NewGuid():N}"[..10] + "-";
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Configuration.AddInMemoryCollection(BenchPaths.WorkerSettings(bucket, prefix, new()
        {
            ["IngestFleet:Fleet:PriorityScheduling"] = scheduling.ToString(), ["IngestFleet:Limits:ShedEnabled"] = "false",
        }));
        builder.AddIngestFleetWorker(FleetTransport.RabbitMq, manifest);
        using var host = builder.Build();
        var store = host.Services.GetRequiredService<IObjectStore>();
        await store.ProbeAsync(CancellationToken.None);
        for (var i = 0; i < photos.Length; i++)
            await store.PutAsync($"catalog/{i}.jpg", photos[i], "image/jpeg", CancellationToken.None);
        await host.StartAsync();
        var ledger = host.Services.GetRequiredService<FleetLedger>();
        using var stages = new BenchLedger(ledger);
        var publisher = host.Services.GetRequiredService<JobPublisher>();
        EmbedCatalogImage Job(string priority, int i) => new()
        {
            Tenant = "bench", Shard = priority, ItemId = $"{priority}-{i:D6}", Image = $"s3://{bucket}/catalog/{i % photos.Length}.jpg", Priority = priority,
        };
        async Task<double[]> OnlineAsync(int offset)
        {
            stages.ClearLatencies();
            var target = ledger.Items;
            for (var i = 0; i < samples; i++)
            {
                await publisher.PublishAsync([Job("online", offset + i)], null, CancellationToken.None);
                await Task.Delay(IntervalMs);
            }
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (stages.Latencies("online").Length < samples && DateTime.UtcNow < deadline) await Task.Delay(50);
            return stages.Latencies("online");
        }

        // Warm-up, then idle.
        // Warm-up (JIT tiers, ORT arenas, connections) so neither mode pays for being first.
        await publisher.PublishAsync(Enumerable.Range(0, 48).Select(i => Job("online", 900_000 + i)).ToList(), null, CancellationToken.None);
        await ledger.WaitForAsync(48, null, CancellationToken.None);
        var idle = await OnlineAsync(0);

        // A bulk backlog far larger than what the node can do during the measurement.
        var bulkBefore = ledger.Items;
        await publisher.PublishAsync(Enumerable.Range(0, 600).Select(i => Job("bulk", i)).ToList(), null, CancellationToken.None);
        await Task.Delay(2000); // bulk is running at full speed
        var loaded = await OnlineAsync(100_000);
        var bulkDone = ledger.Items - bulkBefore - loaded.Length;

        // Drop the rest of the backlog before stopping.
        var factory = new ConnectionFactory { Uri = new Uri(rabbit) };
        await using (var connection = await factory.CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync())
            await channel.QueuePurgeAsync(prefix + "bulk");
        await host.StopAsync();
        await BenchPaths.DeleteTopologyAsync(rabbit, prefix);
        return (scheduling ? "on (default)" : "off", BenchPaths.Percentile(idle, 50), BenchPaths.Percentile(idle, 95),
            BenchPaths.Percentile(loaded, 50), BenchPaths.Percentile(loaded, 95), bulkDone);
    }
}
