using System.Diagnostics;
using System.Net.Http.Json;
using IngestFleet.Contracts;
using IngestFleet.Gateway;
using IngestFleet.Messaging.Publishing;
using IngestFleet.Storage;
using IngestFleet.Worker.Hosting;
using IngestFleet.Worker.Processing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;

namespace IngestFleet.Benchmarks;

/// <summary>
/// The online query path under load (issue 23): <c>POST /v1/embed</c> latency (request to answer, through the gateway,
/// RabbitMQ request/reply and the worker) on an idle worker and on the same worker while a bulk backlog of 2048-px
/// catalog JPEGs saturates it. One worker (every class), the gateway in this process, ViT-B/32-size towers, real
/// RabbitMQ and S3. Two query kinds: one text, and one catalog image from the bucket.
/// </summary>
internal static class EmbedQueryBenchmark
{
    private const int IntervalMs = 100;

    public static async Task RunAsync(bool quick)
    {
        var samples = quick ? 20 : 100;
        var manifest = BenchPaths.VitB32();
        var photos = BenchPaths.CatalogPhotos.Select(File.ReadAllBytes).ToArray();
        var bucket = $"query-{Guid.NewGuid():N}"[..20];
        var prefix = $"query-{Guid.NewGuid():N}"[..12] + "-";
        var settings = BenchPaths.WorkerSettings(bucket, prefix, new() { ["IngestFleet:Limits:ShedEnabled"] = "false" });
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddIngestFleetWorker(FleetTransport.RabbitMq, manifest);
        using var host = builder.Build();
        var store = host.Services.GetRequiredService<IObjectStore>();
        await store.ProbeAsync(CancellationToken.None);
        for (var i = 0; i < photos.Length; i++)
            await store.PutAsync($"catalog/{i}.jpg", photos[i], "image/jpeg", CancellationToken.None);
        await host.StartAsync();
        var gatewayConfig = new Dictionary<string, string?>(settings) { ["IngestFleet:Gateway:Auth:AllowAnonymous"] = "true" };
        await using var gateway = GatewayApp.Build(gatewayConfig, "http://127.0.0.1:0", LogLevel.Warning);
        await gateway.StartAsync();
        using var http = new HttpClient { BaseAddress = gateway.BoundAddress(), Timeout = TimeSpan.FromSeconds(60) };
        var ledger = host.Services.GetRequiredService<FleetLedger>();
        var publisher = host.Services.GetRequiredService<JobPublisher>();
        string[] texts = ["a red leather handbag", "blue denim jacket with pockets", "white ceramic mug", "vintage wooden chair", "gold ring"];

        var compute = new Dictionary<string, List<double>>();
        async Task<double[]> QueriesAsync(bool images, string? label = null)
        {
            var ms = new List<double>();
            var worker = new List<double>();
            for (var i = 0; i < samples; i++)
            {
                object body = images
                    ? new { model = manifest.Revision, tenant = "bench", images = new[] { $"s3://{bucket}/catalog/{i % photos.Length}.jpg" }, deadline_ms = 30_000 }
                    : new { model = manifest.Revision, texts = new[] { texts[i % texts.Length] }, deadline_ms = 30_000 };
                var started = Stopwatch.GetTimestamp();
                using var response = await http.PostAsJsonAsync("/v1/embed", body);
                if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"/v1/embed answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
                ms.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                using (var reply = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync()))
                    worker.Add(reply.RootElement.GetProperty("compute_ms").GetDouble());
                await Task.Delay(IntervalMs);
            }
            if (label is not null) compute[label] = worker;
            return [.. ms];
        }

        // The worker declares its query queue once its host runs; then warm-up: JIT, ORT arenas, the reply channel, the text tower.
        for (var tries = 0; ; tries++)
        {
            using var probe = await http.PostAsJsonAsync("/v1/embed", new { model = manifest.Revision, texts = texts, deadline_ms = 30_000 });
            if (probe.IsSuccessStatusCode) break;
            if (tries > 60) throw new InvalidOperationException($"the worker never answered: {(int)probe.StatusCode}");
            await Task.Delay(500);
        }
        await QueriesAsync(images: false);
        await QueriesAsync(images: true);
        var idleText = await QueriesAsync(images: false, "idle text");
        var idleImage = await QueriesAsync(images: true, "idle image");

        // A bulk backlog far larger than what the node does during the measurement.
        var before = ledger.Items;
        await publisher.PublishAsync(Enumerable.Range(0, 2000).Select(i => new EmbedCatalogImage
        {
            Tenant = "bench", Shard = "bulk", ItemId = $"bulk-{i:D6}", Image = $"s3://{bucket}/catalog/{i % photos.Length}.jpg", Priority = "bulk",
        }).ToList(), null, CancellationToken.None);
        await Task.Delay(3000); // bulk at full speed
        var loadText = await QueriesAsync(images: false, "load text");
        var loadImage = await QueriesAsync(images: true, "load image");
        var bulkDone = ledger.Items - before;

        var factory = new ConnectionFactory { Uri = new Uri(BenchPaths.RabbitUri) };
        await using (var connection = await factory.CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync())
            await channel.QueuePurgeAsync(prefix + "bulk");
        await gateway.StopAsync();
        await host.StopAsync();
        await BenchPaths.DeleteTopologyAsync(BenchPaths.RabbitUri, prefix);

        Console.WriteLine();
        Console.WriteLine($"## POST /v1/embed: request → answer, idle and under a bulk backlog ({samples} sequential queries per row, one every {IntervalMs} ms; " +
                          $"{manifest.Revision}; {Environment.ProcessorCount} cores; bulk images done during the loaded rows: {bulkDone})");
        Console.WriteLine("| query | idle p50 | idle p95 | under bulk p50 | under bulk p95 | **p95 ratio (under bulk ÷ idle)** | worker compute p95 idle / under bulk |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (var (label, key, idle, load) in new[] { ("1 text", "text", idleText, loadText), ("1 catalog image (s3://, 2048 px)", "image", idleImage, loadImage) })
            Console.WriteLine($"| {label} | {BenchPaths.Percentile(idle, 50):0.0} ms | {BenchPaths.Percentile(idle, 95):0.0} ms | {BenchPaths.Percentile(load, 50):0.0} ms | " +
                              $"{BenchPaths.Percentile(load, 95):0.0} ms | **{BenchPaths.Percentile(load, 95) / BenchPaths.Percentile(idle, 95):0.00}** | " +
                              $"{BenchPaths.Percentile(compute["idle " + key], 95):0.0} / {BenchPaths.Percentile(compute["load " + key], 95):0.0} ms |");
    }
}
