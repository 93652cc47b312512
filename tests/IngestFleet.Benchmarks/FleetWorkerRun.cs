using System.Diagnostics;
using System.Globalization;
using IngestFleet.Contracts;
using IngestFleet.Embedding.Models;
using IngestFleet.Messaging;
using IngestFleet.Messaging.Broker;
using IngestFleet.Messaging.Publishing;
using IngestFleet.Storage.S3;

namespace IngestFleet.Benchmarks;

/// <summary>One timed fleet run: its model, the 2048-px photos cycled over <paramref name="Images"/> s3:// jobs (bulk
/// class), batch and intra-op threads; <paramref name="Settings"/> adds worker configuration keys (batches in flight,
/// the broker URI and S3 endpoint the worker reaches, through a <see cref="LatencyProxy"/> or not).</summary>
internal sealed record FleetRunSpec(ModelManifest Manifest, string[] Photos, int Images, int Batch, int Threads, string Label,
    IReadOnlyDictionary<string, string?>? Settings = null);

/// <summary>What a run measured: seconds from the first publish to the last vector, the worker's peak RSS, and CPU
/// seconds of the worker, the S3 server, RabbitMQ and this process over that window.</summary>
internal sealed record FleetRunResult(double Seconds, long PeakRss, double[] Cpu);

/// <summary>
/// An <c>ingestfleet worker</c> process on RabbitMQ and the S3 server, jobs published by this process once the worker is
/// ready, the clock stopped when every vector is in the bucket. Shared by the versus and latency benchmarks.
/// </summary>
internal static class FleetWorkerRun
{
    public static async Task<FleetRunResult> RunAsync(FleetRunSpec spec)
    {
        var id = Guid.NewGuid().ToString("N")[..8];
        var bucket = $"{spec.Label}-{id}";
        var prefix = $"{spec.Label}-{id}-";
        using var store = new S3ObjectStore(new S3Options { ServiceUrl = BenchPaths.S3Endpoint, Bucket = bucket, AccessKey = "S3RVER", SecretKey = "S3RVER", CreateBucket = true, ListObjectsVersion = 1 });
        await store.ProbeAsync(CancellationToken.None);
        for (var i = 0; i < spec.Photos.Length; i++)
            await store.PutAsync($"img/{i}.jpg", await File.ReadAllBytesAsync(spec.Photos[i]), "image/jpeg", CancellationToken.None);
        var port = FreePort();
        var psi = BenchPaths.Dotnet(Path.Combine(AppContext.BaseDirectory, "ingestfleet.dll"), "worker", "--model", spec.Manifest.Directory, "--ep", "cpu",
            "--threads", spec.Threads.ToString(CultureInfo.InvariantCulture), "--batch", spec.Batch.ToString(CultureInfo.InvariantCulture),
            "--health-port", port.ToString(CultureInfo.InvariantCulture));
        var extra = new Dictionary<string, string?> { ["IngestFleet:S3:ListObjectsVersion"] = "1", ["IngestFleet:Fleet:Consume:0"] = "bulk" };
        foreach (var (k, v) in spec.Settings ?? new Dictionary<string, string?>()) extra[k] = v;
        if (Environment.GetEnvironmentVariable("INGESTFLEET_BENCH_WORKER_LOG") is { Length: > 0 })
            extra["Logging:LogLevel:IngestFleet.Worker.Processing"] = "Debug"; // each batch's wall clock, by phase
        foreach (var (k, v) in BenchPaths.WorkerSettings(bucket, prefix, extra))
            psi.Environment[k.Replace(":", "__", StringComparison.Ordinal)] = v;
        double seconds = 0;
        double[] cpu = [];
        var (stdout, peak) = await BenchPaths.RunChildAsync(psi, async process =>
        {
            using var http = new HttpClient();
            for (var ready = false; !ready;)
            {
                if (process.HasExited) throw new InvalidOperationException("the fleet worker exited before it was ready");
                try { ready = (await http.GetAsync(new Uri($"http://127.0.0.1:{port}/healthz/ready"))).IsSuccessStatusCode; }
                catch (HttpRequestException) { }
                if (!ready) await Task.Delay(250);
            }
            var fleet = new FleetOptions { QueuePrefix = prefix, BatchSize = spec.Batch };
            var rabbit = new RabbitMqOptions { Uri = BenchPaths.RabbitUri };
            await using var link = new BrokerLink(rabbit, spec.Label);
            await WarmHarnessAsync(store, link, rabbit, $"{spec.Label}-warm-{id}-", spec.Batch);
            var jobs = Enumerable.Range(0, spec.Images).Select(i => new EmbedCatalogImage
            {
                Tenant = "bench", Shard = "s", ItemId = $"img-{i:D5}", Image = $"s3://{bucket}/img/{i % spec.Photos.Length}.jpg", Priority = "bulk",
            }).ToList();
            var cpuBefore = FleetCpu(process.Id);
            var sw = Stopwatch.StartNew();
            var published = await new JobPublisher(link, rabbit, fleet, TimeProvider.System).PublishAsync(jobs, null, CancellationToken.None);
            if (published.Failed.Count > 0) throw new InvalidOperationException("the broker did not confirm every job");
            // Vectors arrive as one part file per batch: count the rows of each part once. Every listing costs the S3
            // server (on these same cores) CPU, so poll once a second while more than two batches are outstanding and
            // every 100 ms for the last ones, where the finish time is read.
            var rowsPerPart = new Dictionary<string, int>(StringComparer.Ordinal);
            while (true)
            {
                await foreach (var key in store.ListAsync("vectors/", CancellationToken.None))
                    if (!rowsPerPart.ContainsKey(key))
                        rowsPerPart[key] = (await IngestFleet.VectorStore.VectorParquet.ReadAsync(store, key)).Count;
                var outstanding = spec.Images - rowsPerPart.Values.Sum();
                if (outstanding <= 0) break;
                if (process.HasExited) throw new InvalidOperationException("the fleet worker exited before every vector was written");
                await Task.Delay(outstanding > 2 * spec.Batch ? 1000 : 100);
            }
            seconds = sw.Elapsed.TotalSeconds;
            cpu = FleetCpu(process.Id).Select((c, i) => c - cpuBefore[i]).ToArray();
            using var term = Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)]);
            await term.WaitForExitAsync();
        });
        await BenchPaths.DeleteTopologyAsync(BenchPaths.RabbitUri, prefix);
        if (Environment.GetEnvironmentVariable("INGESTFLEET_BENCH_WORKER_LOG") is { Length: > 0 } log)
            await File.AppendAllTextAsync(log, $"==== {spec.Label} {string.Join(' ', (spec.Settings ?? new Dictionary<string, string?>()).Select(kv => $"{kv.Key}={kv.Value}"))}\n{stdout}");
        return new FleetRunResult(seconds, peak, cpu);
    }

    /// <summary>Runs this process's own publishing, listing and Parquet-reading code once before the clock starts, on a
    /// throwaway queue prefix and key: their first-use JIT is the harness's cost, and inside the timed window it took CPU
    /// from the worker under test (4.5 CPU-seconds in a first round against 1.0 in the next).</summary>
    private static async Task WarmHarnessAsync(S3ObjectStore store, BrokerLink link, RabbitMqOptions rabbit, string prefix, int batch)
    {
        var job = new EmbedCatalogImage { Tenant = "bench", Shard = "s", ItemId = "warm", Image = "s3://warm/warm.jpg", Priority = "bulk" };
        var warmed = await new JobPublisher(link, rabbit, new FleetOptions { QueuePrefix = prefix, BatchSize = batch }, TimeProvider.System)
            .PublishAsync([job], null, CancellationToken.None);
        await BenchPaths.DeleteTopologyAsync(BenchPaths.RabbitUri, prefix);
        if (warmed.Failed.Count > 0) throw new InvalidOperationException("the broker did not confirm the warm-up job");
        var row = new IngestFleet.VectorStore.VectorRow { ItemId = "warm", Tenant = "bench", Shard = "s", Dimension = 512, Embedding = new float[512], WrittenAt = DateTime.UtcNow };
        await store.PutAsync("warm/part.parquet", await IngestFleet.VectorStore.VectorParquet.SerializeAsync([row]), IngestFleet.VectorStore.ResultWriter.ParquetContentType, CancellationToken.None);
        await foreach (var key in store.ListAsync("warm/", CancellationToken.None))
            _ = await IngestFleet.VectorStore.VectorParquet.ReadAsync(store, key);
        await store.DeleteAsync("warm/part.parquet", CancellationToken.None);
    }

    /// <summary>CPU seconds so far of the worker, the S3 server (s3rver), RabbitMQ (beam.smp) and this process.</summary>
    private static double[] FleetCpu(int worker) =>
        [BenchPaths.CpuSeconds([worker]), BenchPaths.CpuSeconds(BenchPaths.Pids("s3rver")), BenchPaths.CpuSeconds(BenchPaths.Pids("beam.smp")),
            BenchPaths.CpuSeconds([Environment.ProcessId])];

    private static int FreePort()
    {
        using var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        return ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
    }
}
