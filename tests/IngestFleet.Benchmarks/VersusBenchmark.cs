using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using IngestFleet.Embedding.Models;
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
        var bounds = new List<CpuBound>();
        for (var round = 1; round <= rounds; round++)
        {
            bounds.Add(CpuBound.Measure(manifest, photos, Batch, Threads, quick));
            Console.WriteLine($"  round {round}: {bounds[^1]}");
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
        var ofBound = Enumerable.Range(0, rounds).Select(k => (Minimal: runs[3 * k].ImagesPerSecond / bounds[k].ImagesPerSecond,
            Embedded: runs[3 * k + 1].ImagesPerSecond / bounds[k].ImagesPerSecond, Fleet: runs[3 * k + 2].ImagesPerSecond / bounds[k].ImagesPerSecond)).ToArray();
        string Each(Func<(double Minimal, double Embedded, double Fleet), double> f) => string.Join(", ", ofBound.Select(f).Select(v => v.ToString("0.00", CultureInfo.InvariantCulture)));
        Console.WriteLine($"÷ the CPU bound of the same round (median {Med(bounds.Select(b => b.ImagesPerSecond)):0.0} images/s): minimal {Each(r => r.Minimal)}; " +
                          $"embedded (ingest) {Each(r => r.Embedded)}; fleet {Each(r => r.Fleet)}");
        Console.WriteLine($"target: ingest ÷ CPU bound {Med(ofBound.Select(r => r.Embedded)):0.00} (≥ 0.95)");
        Console.WriteLine($"targets (median of the per-round ratios): embedded ÷ minimal {Med(perRound.Select(r => r.Embedded)):0.00} (≥ 1.0), fleet ÷ embedded {Med(perRound.Select(r => r.Fleet)):0.00} (≥ 0.95), " +
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
        var r = await FleetWorkerRun.RunAsync(new FleetRunSpec(manifest, photos, images, Batch, Threads, "versus"));
        Console.WriteLine($"  round {round}: fleet CPU-seconds over {r.Seconds:0.0} s of wall on {Environment.ProcessorCount} cores: worker {r.Cpu[0]:0.0}, " +
                          $"s3rver {r.Cpu[1]:0.0}, RabbitMQ {r.Cpu[2]:0.0}, this benchmark (publishing, polling S3 for the vectors) {r.Cpu[3]:0.0}");
        return new Run("fleet", images / r.Seconds, r.PeakRss);
    }
}
