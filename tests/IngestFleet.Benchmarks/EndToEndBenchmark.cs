using System.Diagnostics;
using IngestFleet.Contracts;
using IngestFleet.Worker.Scheduling;
using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Preprocessing;
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

namespace IngestFleet.Benchmarks;

/// <summary>
/// publish → vectors in S3 on the ViT-B/32-size tower and 2048-px catalog photos (s3:// sources), beside, measured
/// alone in the same run: (a) raw ORT images/s at the same batch and threads, (b) the CPU bound
/// cores ÷ (inference CPU-s/image + preprocessing CPU-s/image).
/// </summary>
internal static class EndToEndBenchmark
{
    private const int Batch = 16;
    private const int Threads = 2;

    public static async Task RunAsync(bool quick)
    {
        var images = quick ? 64 : 192;
        var rabbit = BenchPaths.RabbitUri;
        var manifest = BenchPaths.VitB32();
        var photos = BenchPaths.CatalogPhotos.Select(File.ReadAllBytes).ToArray();
        var cores = Environment.ProcessorCount;

        // (b) preprocessing CPU-seconds per image, one thread, alone.
        var pre = new ImagePreprocessor(manifest.Preprocess);
        var tensor = new float[pre.TensorLength];
        foreach (var p in photos) pre.Preprocess(p, tensor);
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var preCount = photos.Length * (quick ? 4 : 12);
        for (var i = 0; i < preCount; i++) pre.Preprocess(photos[i % photos.Length], tensor);
        var preCpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds / preCount;

        // (a) raw ORT at the same batch and threads, alone; its CPU time gives inference CPU-seconds per image.
        double rawIps, infCpu;
        using (var embedder = Embedder.Load(manifest, new EmbedderOptions { ExecutionProvider = ExecutionProvider.Cpu, IntraOpThreads = Threads, VerifyGoldenPack = false }))
        {
            var input = new SeededInput(Batch * embedder.ImageLength).Values;
            embedder.RunRaw(input, Batch);
            var runs = quick ? 3 : 8;
            cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            for (var i = 0; i < runs; i++) embedder.RunRaw(input, Batch);
            rawIps = runs * Batch / sw.Elapsed.TotalSeconds;
            infCpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds / (runs * Batch);
        }
        var cpuBound = cores / (infCpu + preCpu);

        // End to end through RabbitMQ and S3.
        var bucket = $"bench-{Guid.NewGuid():N}"[..20];
        var prefix = $"bench-{Guid.NewGuid():N}"[..12] + "-";
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Configuration.AddInMemoryCollection(BenchPaths.WorkerSettings(bucket, prefix, new()
        {
            ["IngestFleet:Fleet:BatchSize"] = Batch.ToString(), ["IngestFleet:Embedder:IntraOpThreads"] = Threads.ToString(),
        }));
        builder.Configuration.AddEnvironmentVariables(); // IngestFleet__* variables override the defaults above (experiments)
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
        var jobs = Enumerable.Range(0, images).Select(i => new EmbedCatalogImage
        {
            Tenant = "bench", Shard = $"s{i % 4}", ItemId = $"i{i:D5}", Image = $"s3://{bucket}/catalog/{i % photos.Length}.jpg", Priority = "bulk",
        }).ToList();
        // Warm-up through the same path (JIT tiers of MassTransit, the S3 client, Parquet; connection pools), so the
        // figure is the steady state a long-running worker sees, not its first minute.
        var warmup = quick ? 32 : 64;
        await publisher.PublishAsync(Enumerable.Range(0, warmup).Select(i => new EmbedCatalogImage
        {
            Tenant = "bench", Shard = "warmup", ItemId = $"w{i:D5}", Image = $"s3://{bucket}/catalog/{i % photos.Length}.jpg", Priority = "bulk",
        }).ToList(), null, CancellationToken.None);
        await ledger.WaitForAsync(warmup, null, CancellationToken.None);
        var (fetch0, pre0, inf0, write0, batches0) = (stages.FetchTime, stages.PreprocessTime, stages.InferenceTime, stages.WriteTime, ledger.Batches);
        cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var e2e = Stopwatch.StartNew();
        var published = await publisher.PublishAsync(jobs, null, CancellationToken.None);
        var publishSeconds = e2e.Elapsed.TotalSeconds;
        await ledger.WaitForAsync(warmup + images, null, CancellationToken.None);
        var e2eSeconds = e2e.Elapsed.TotalSeconds;
        var e2eCpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
        await host.StopAsync();
        await BenchPaths.DeleteTopologyAsync(rabbit, prefix);
        var e2eIps = images / e2eSeconds;

        Console.WriteLine();
        Console.WriteLine($"## End to end: publish → vectors in S3 ({images} × 2048-px JPEG via s3://, ViT-B/32-size tower, batch {Batch}, {Threads} intra-op threads, {cores} cores)");
        Console.WriteLine("| measure | value |");
        Console.WriteLine("|---|---|");
        Console.WriteLine($"| end-to-end images/s | {e2eIps:0.0} |");
        Console.WriteLine($"| (a) raw ORT images/s, same batch and threads, alone | {rawIps:0.0} |");
        Console.WriteLine($"| inference CPU-s/image (alone) | {infCpu * 1000:0.0} ms |");
        Console.WriteLine($"| preprocessing CPU-s/image (alone) | {preCpu * 1000:0.0} ms |");
        Console.WriteLine($"| (b) CPU bound = {cores} ÷ (inference + preprocessing) | {cpuBound:0.0} images/s |");
        Console.WriteLine($"| **e2e ÷ raw** | **{e2eIps / rawIps:0.00}** |");
        Console.WriteLine($"| **e2e ÷ CPU bound** | **{e2eIps / cpuBound:0.00}** |");
        Console.WriteLine($"| CPU used during e2e | {e2eCpu / (e2eSeconds * cores):P0} of {cores} cores |");
        Console.WriteLine();
        Console.WriteLine("Stage breakdown (sums over items; fetch and decode overlap inference, so they exceed wall time):");
        Console.WriteLine($"| stage | seconds | per image |");
        Console.WriteLine("|---|---|---|");
        void Row(string stage, TimeSpan t) => Console.WriteLine($"| {stage} | {t.TotalSeconds:0.00} | {t.TotalMilliseconds / images:0.0} ms |");
        Row("wall clock, publish → last vector", TimeSpan.FromSeconds(e2eSeconds));
        Row("broker: publish with confirms (wall)", TimeSpan.FromSeconds(publishSeconds));
        Row("fetch (S3 GetObject, summed)", stages.FetchTime - fetch0);
        Row("decode + resize + normalise (summed)", stages.PreprocessTime - pre0);
        Row("inference (wall, summed over batches)", stages.InferenceTime - inf0);
        Row("write vectors to S3 (wall, summed over batches)", stages.WriteTime - write0);
        var batches = ledger.Batches - batches0;
        Console.WriteLine($"batches: {batches} (mean {images / (double)Math.Max(1, batches):0.0} images per batch), not confirmed: {published.Failed.Count}; after a warm-up of {warmup} images");
    }

    private sealed class SeededInput(int n)
    {
        public float[] Values { get; } = new IngestFleet.ModelTools.SeededRandom(9).Normal(n, 1.0);
    }
}
