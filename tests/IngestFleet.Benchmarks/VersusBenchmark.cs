using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using IngestFleet.Contracts;
using IngestFleet.Embedding.Models;
using IngestFleet.Messaging;
using IngestFleet.Messaging.Broker;
using IngestFleet.Messaging.Publishing;
using IngestFleet.Storage.S3;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace IngestFleet.Benchmarks;

/// <summary>
/// The fleet against the pipeline a user would write by hand, side by side in one run, alternating, each in its own
/// process (so each has its own peak RSS): (1) minimal: NetVips thumbnail (shrink-on-load) + one raw ORT session,
/// decoding the next batch while the current one runs, no broker, no storage; (2) embedded: <c>ingestfleet ingest</c>
/// (in-memory bus, local store); (3) fleet: an <c>ingestfleet worker</c> process on RabbitMQ and the S3 server,
/// jobs published by this process. Same model file (the ViT-B/32-size tower), same 2048-px catalog JPEGs, batch 16,
/// 2 intra-op threads. images/s excludes start-up (model load) for all three; peak RSS is the process's VmHWM.
/// </summary>
internal static partial class VersusBenchmark
{
    private const int Batch = 16;
    private const int Threads = 2;

    private sealed record Run(string Name, double ImagesPerSecond, long PeakRss);

    public static async Task RunAsync(bool quick)
    {
        var images = quick ? 96 : 480;
        var rounds = quick ? 1 : 3;
        var manifest = BenchPaths.VitB32();
        var photos = BenchPaths.CatalogPhotos;
        var work = Directory.CreateTempSubdirectory("ingestfleet-versus-");
        var list = Path.Combine(work.FullName, "images.txt");
        await File.WriteAllLinesAsync(list, Enumerable.Range(0, images).Select(i => photos[i % photos.Length]));
        var catalog = Path.Combine(work.FullName, "catalog.jsonl");
        await File.WriteAllLinesAsync(catalog, Enumerable.Range(0, images).Select(i =>
            System.Text.Json.JsonSerializer.Serialize(new { item_id = $"img-{i:D5}", image = new Uri(photos[i % photos.Length]).AbsoluteUri, priority = "bulk" })));
        Console.WriteLine($"== versus: {images} × 2048-px JPEG ({photos.Length} photos cycled), {manifest.Revision}, batch {Batch}, {Threads} intra-op threads, {Environment.ProcessorCount} cores, {rounds} alternating round(s)");
        var runs = new List<Run>();
        for (var round = 1; round <= rounds; round++)
        {
            runs.Add(await MinimalAsync(manifest, list, images));
            runs.Add(await EmbeddedAsync(manifest, catalog, work.FullName, images, round));
            runs.Add(await FleetAsync(manifest, photos, images, round));
            foreach (var r in runs.TakeLast(3)) Console.WriteLine($"  round {round}: {r.Name,-9} {r.ImagesPerSecond,6:0.0} images/s, peak RSS {r.PeakRss >> 20,5} MiB");
        }
        static double Med(IEnumerable<double> v) => MathNet.Numerics.Statistics.Statistics.Median(v);
        Run Median(string name)
        {
            var rs = runs.Where(r => r.Name == name).ToArray();
            return new Run(name, Med(rs.Select(r => r.ImagesPerSecond)), (long)Med(rs.Select(r => (double)r.PeakRss)));
        }
        var (m, e, f) = (Median("minimal"), Median("embedded"), Median("fleet"));
        Console.WriteLine();
        Console.WriteLine("| pipeline | images/s | peak RSS MiB | images/s ÷ minimal | peak RSS ÷ minimal |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var r in new[] { m, e, f })
            Console.WriteLine($"| {r.Name} | {r.ImagesPerSecond:0.0} | {r.PeakRss >> 20} | {r.ImagesPerSecond / m.ImagesPerSecond:0.00} | {(double)r.PeakRss / m.PeakRss:0.00} |");
        // Each round's three runs follow one another within about two minutes, so a ratio inside one round is the least
        // disturbed by this machine's drift between rounds; the targets are read as the median of those per-round ratios.
        var perRound = Enumerable.Range(0, rounds).Select(k => (Embedded: runs[3 * k + 1].ImagesPerSecond / runs[3 * k].ImagesPerSecond,
            Fleet: runs[3 * k + 2].ImagesPerSecond / runs[3 * k + 1].ImagesPerSecond)).ToArray();
        Console.WriteLine($"per round: embedded ÷ minimal {string.Join(", ", perRound.Select(r => r.Embedded.ToString("0.00", CultureInfo.InvariantCulture)))}; " +
            $"fleet ÷ embedded {string.Join(", ", perRound.Select(r => r.Fleet.ToString("0.00", CultureInfo.InvariantCulture)))}");
        Console.WriteLine($"targets (median of the per-round ratios): embedded ÷ minimal {Med(perRound.Select(r => r.Embedded)):0.00} (≥ 1.0), fleet ÷ embedded {Med(perRound.Select(r => r.Fleet)):0.00} (≥ 0.9), " +
            $"embedded peak RSS ÷ minimal {(double)e.PeakRss / m.PeakRss:0.00}, fleet worker peak RSS ÷ minimal {(double)f.PeakRss / m.PeakRss:0.00} (≤ 1.3)");
        work.Delete(recursive: true);
    }

    // ---- (1) the hand-written pipeline, in a child process ------------------------------------------------------------

    private static async Task<Run> MinimalAsync(ModelManifest manifest, string list, int images)
    {
        var psi = BenchPaths.Dotnet(Path.Combine(AppContext.BaseDirectory, "IngestFleet.Benchmarks.dll"), "versus-minimal", manifest.Directory, list,
            Batch.ToString(CultureInfo.InvariantCulture), Threads.ToString(CultureInfo.InvariantCulture));
        psi.Environment["DOTNET_TieredCompilation"] = "1"; // a user's script runs with the runtime's defaults, not the harness's setting
        var (stdout, peak) = await BenchPaths.RunChildAsync(psi, null);
        var match = MinimalLine().Match(stdout);
        if (!match.Success) throw new InvalidOperationException($"minimal pipeline printed no result:\n{stdout}");
        return new Run("minimal", images / double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture), peak);
    }

    /// <summary>What a user would write: libvips thumbnail straight to the model's square, normalise, one ORT session,
    /// the next batch decoded (on the other threads) while this one runs.</summary>
    public static async Task<int> MinimalMainAsync(string[] args)
    {
        var manifest = ManifestLoader.Load(args[1]);
        var files = await File.ReadAllLinesAsync(args[2]);
        var batch = int.Parse(args[3], CultureInfo.InvariantCulture);
        var threads = int.Parse(args[4], CultureInfo.InvariantCulture);
        var c = manifest.Preprocess;
        var size = c.Size;
        var plane = size * size;
        NetVips.NetVips.Concurrency = 1;
        using var so = new SessionOptions { IntraOpNumThreads = threads, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        using var session = new InferenceSession(manifest.OnnxPath, so);
        var input = session.InputNames[0];

        float[] Decode(int start)
        {
            var n = Math.Min(batch, files.Length - start);
            var t = new float[n * 3 * plane];
            Parallel.For(0, n, new ParallelOptions { MaxDegreeOfParallelism = threads }, i =>
            {
                using var img = NetVips.Image.ThumbnailBuffer(File.ReadAllBytes(files[start + i]), size, height: size, crop: NetVips.Enums.Interesting.Centre);
                var px = img.WriteToMemory<byte>();
                var o = i * 3 * plane;
                for (var k = 0; k < plane; k++)
                    for (var ch = 0; ch < 3; ch++)
                        t[o + ch * plane + k] = (float)((px[k * 3 + ch] * c.RescaleFactor - c.Mean[ch]) / c.Std[ch]);
            });
            return t;
        }

        using var runOptions = new RunOptions();
        var sw = Stopwatch.StartNew();
        var next = Task.Run(() => Decode(0));
        var embedded = 0;
        for (var start = 0; start < files.Length; start += batch)
        {
            var tensor = await next;
            if (start + batch < files.Length)
            {
                var s = start + batch;
                next = Task.Run(() => Decode(s));
            }
            var n = tensor.Length / (3 * plane);
            using var value = OrtValue.CreateTensorValueFromMemory(tensor, [n, 3, size, size]);
#pragma warning disable CA1849 // what a hand-written script does: one blocking Run per batch while the next batch decodes
            using var outputs = session.Run(runOptions, [input], [value], session.OutputNames);
#pragma warning restore CA1849
            var vectors = outputs[0].GetTensorDataAsSpan<float>();
            embedded += n;
            GC.KeepAlive(vectors.Length);
        }
        Console.WriteLine($"MINIMAL seconds={sw.Elapsed.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture)} images={embedded}");
        return 0;
    }

    [GeneratedRegex(@"MINIMAL seconds=([\d.]+)")]
    private static partial Regex MinimalLine();

    // ---- (2) embedded: ingestfleet ingest -------------------------------------------------------------------------------

    private static async Task<Run> EmbeddedAsync(ModelManifest manifest, string catalog, string work, int images, int round)
    {
        var outDir = Path.Combine(work, $"embedded-{round}");
        var psi = BenchPaths.Dotnet(Path.Combine(AppContext.BaseDirectory, "ingestfleet.dll"), "ingest", catalog, "--out", outDir, "--model", manifest.Directory,
            "--ep", "cpu", "--threads", Threads.ToString(CultureInfo.InvariantCulture), "--batch", Batch.ToString(CultureInfo.InvariantCulture));
        psi.Environment["IngestFleet__Embedder__VerifyGoldenPack"] = "false";
        var (stdout, peak) = await BenchPaths.RunChildAsync(psi, null);
        var match = IngestLine().Match(stdout);
        if (!match.Success || int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) != images)
            throw new InvalidOperationException($"ingest printed no result for {images} items:\n{stdout}");
        return new Run("embedded", images / double.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture), peak);
    }

    [GeneratedRegex(@"(\d+) items in ([\d.]+) s: (\d+) vectors")]
    private static partial Regex IngestLine();

    // ---- (3) the real fleet: a worker process on RabbitMQ and the S3 server ---------------------------------------------

    private static async Task<Run> FleetAsync(ModelManifest manifest, string[] photos, int images, int round)
    {
        var id = Guid.NewGuid().ToString("N")[..8];
        var bucket = $"versus-{id}";
        var prefix = $"versus-{id}-";
        using var store = new S3ObjectStore(new S3Options { ServiceUrl = BenchPaths.S3Endpoint, Bucket = bucket, AccessKey = "S3RVER", SecretKey = "S3RVER", CreateBucket = true, ListObjectsVersion = 1 });
        await store.ProbeAsync(CancellationToken.None);
        for (var i = 0; i < photos.Length; i++)
            await store.PutAsync($"img/{i}.jpg", await File.ReadAllBytesAsync(photos[i]), "image/jpeg", CancellationToken.None);
        var port = FreePort();
        var psi = BenchPaths.Dotnet(Path.Combine(AppContext.BaseDirectory, "ingestfleet.dll"), "worker", "--model", manifest.Directory, "--ep", "cpu",
            "--threads", Threads.ToString(CultureInfo.InvariantCulture), "--batch", Batch.ToString(CultureInfo.InvariantCulture), "--health-port", port.ToString(CultureInfo.InvariantCulture));
        foreach (var (k, v) in BenchPaths.WorkerSettings(bucket, prefix, new() { ["IngestFleet:S3:ListObjectsVersion"] = "1", ["IngestFleet:Fleet:Consume:0"] = "bulk" }))
            psi.Environment[k.Replace(":", "__", StringComparison.Ordinal)] = v;
        double seconds = 0;
        var (_, peak) = await BenchPaths.RunChildAsync(psi, async process =>
        {
            using var http = new HttpClient();
            for (var ready = false; !ready;)
            {
                if (process.HasExited) throw new InvalidOperationException("the fleet worker exited before it was ready");
                try { ready = (await http.GetAsync(new Uri($"http://127.0.0.1:{port}/healthz/ready"))).IsSuccessStatusCode; }
                catch (HttpRequestException) { }
                if (!ready) await Task.Delay(250);
            }
            var fleet = new FleetOptions { QueuePrefix = prefix, BatchSize = Batch };
            var rabbit = new RabbitMqOptions { Uri = BenchPaths.RabbitUri };
            await using var link = new BrokerLink(rabbit, "versus");
            await WarmHarnessAsync(store, link, rabbit, $"versus-warm-{id}-");
            var jobs = Enumerable.Range(0, images).Select(i => new EmbedCatalogImage
            {
                Tenant = "bench", Shard = "s", ItemId = $"img-{i:D5}", Image = $"s3://{bucket}/img/{i % photos.Length}.jpg", Priority = "bulk",
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
                var outstanding = images - rowsPerPart.Values.Sum();
                if (outstanding <= 0) break;
                await Task.Delay(outstanding > 2 * Batch ? 1000 : 100);
            }
            seconds = sw.Elapsed.TotalSeconds;
            var cpu = FleetCpu(process.Id).Select((c, i) => c - cpuBefore[i]).ToArray();
            Console.WriteLine($"  round {round}: fleet CPU-seconds over {seconds:0.0} s of wall on {Environment.ProcessorCount} cores: worker {cpu[0]:0.0}, " +
                              $"s3rver {cpu[1]:0.0}, RabbitMQ {cpu[2]:0.0}, this benchmark (publishing, polling S3 for the vectors) {cpu[3]:0.0}");
            using var term = Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)]);
            await term.WaitForExitAsync();
        });
        await BenchPaths.DeleteTopologyAsync(BenchPaths.RabbitUri, prefix);
        return new Run("fleet", images / seconds, peak);
    }

    /// <summary>Runs this process's own publishing, listing and Parquet-reading code once before the clock starts, on a
    /// throwaway queue prefix and key: their first-use JIT is the harness's cost, and inside the timed window it took CPU
    /// from the worker under test (4.5 CPU-seconds in a first round against 1.0 in the next).</summary>
    private static async Task WarmHarnessAsync(S3ObjectStore store, BrokerLink link, RabbitMqOptions rabbit, string prefix)
    {
        var job = new EmbedCatalogImage { Tenant = "bench", Shard = "s", ItemId = "warm", Image = "s3://warm/warm.jpg", Priority = "bulk" };
        var warmed = await new JobPublisher(link, rabbit, new FleetOptions { QueuePrefix = prefix, BatchSize = Batch }, TimeProvider.System)
            .PublishAsync([job], null, CancellationToken.None);
        await BenchPaths.DeleteTopologyAsync(BenchPaths.RabbitUri, prefix);
        if (warmed.Failed.Count > 0) throw new InvalidOperationException("the broker did not confirm the warm-up job");
        var row = new IngestFleet.VectorStore.VectorRow { ItemId = "warm", Tenant = "bench", Shard = "s", Dimension = 512, Embedding = new float[512], WrittenAt = DateTime.UtcNow };
        await store.PutAsync("warm/part.parquet", await IngestFleet.VectorStore.VectorParquet.SerializeAsync([row]), IngestFleet.VectorStore.ResultWriter.ParquetContentType, CancellationToken.None);
        await foreach (var key in store.ListAsync("warm/", CancellationToken.None))
            _ = await IngestFleet.VectorStore.VectorParquet.ReadAsync(store, key);
        await store.DeleteAsync("warm/part.parquet", CancellationToken.None);
    }

    // ---- where the fleet run's CPU goes ---------------------------------------------------------------------------------

    /// <summary>CPU seconds so far of the worker, the S3 server (s3rver), RabbitMQ (beam.smp) and this process, from
    /// /proc (user + system, in clock ticks of 1/100 s).</summary>
    private static double[] FleetCpu(int worker)
    {
        double Of(IEnumerable<int> pids) => pids.Sum(pid =>
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                var f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                return (long.Parse(f[11], CultureInfo.InvariantCulture) + long.Parse(f[12], CultureInfo.InvariantCulture)) / 100.0;
            }
            catch (IOException) { return 0; }
        });
        IEnumerable<int> Matching(string needle) => Directory.GetDirectories("/proc").Select(Path.GetFileName)
            .Where(d => d!.All(char.IsAsciiDigit)).Select(d => int.Parse(d!, CultureInfo.InvariantCulture))
            .Where(pid =>
            {
                try { return File.ReadAllText($"/proc/{pid}/cmdline").Contains(needle, StringComparison.Ordinal); }
                catch (IOException) { return false; }
                catch (UnauthorizedAccessException) { return false; }
            }).ToList();
        return [Of([worker]), Of(Matching("s3rver")), Of(Matching("beam.smp")), Of([Environment.ProcessId])];
    }

    private static int FreePort()
    {
        using var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        return ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
    }
}
