using System.Diagnostics;
using System.Text.Json;
using IngestFleet.Embedding.Diagnostics;
using IngestFleet.Embedding.Inference;

namespace IngestFleet.Benchmarks;

/// <summary>
/// How Core ML's fixed shapes serve short calls, measured on the CPU EP (no Mac here) with the ViT-B/32-size tower:
/// a fixed batch of 16 alone (every call padded to 16) against the same plus a small fixed-shape session of 2 (calls of
/// one or two images run on it). Each way runs in its own process, alternating, so RSS is its own: the small session's
/// memory price is the difference. Padded rows cost compute on any EP, so the ratios carry over to the Neural Engine
/// in kind, not in size: the first Mac run must measure them there.
/// </summary>
internal static class StaticShapeBenchmark
{
    private const int Calls = 12;

    public static async Task RunAsync(bool quick)
    {
        var manifest = BenchPaths.VitB32();
        Console.WriteLine();
        Console.WriteLine("## Static shapes: one fixed batch of 16, or 16 plus a small session of 2 (ViT-B/32-size tower, CPU EP, 2 threads)");
        var rows = new Dictionary<int, List<Probe>>();
        foreach (var round in Enumerable.Range(0, quick ? 1 : 2))
            foreach (var small in round % 2 == 0 ? new[] { 0, 2 } : [2, 0])
            {
                var (stdout, _) = await BenchPaths.RunChildAsync(BenchPaths.Dotnet(typeof(StaticShapeBenchmark).Assembly.Location, "shapes-probe", manifest.ManifestPath,
                    small.ToString(System.Globalization.CultureInfo.InvariantCulture)), null);
                var probe = JsonSerializer.Deserialize<Probe>(stdout.Split('\n').Last(l => l.StartsWith('{')))!;
                (rows.TryGetValue(small, out var list) ? list : rows[small] = []).Add(probe);
            }
        Console.WriteLine("| sessions | RSS loaded MiB | 1 image ms | 2 images ms | 16 images ms |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var (small, probes) in rows.OrderBy(r => r.Key))
            Console.WriteLine($"| {(small == 0 ? "fixed 16 (padding)" : "fixed 16 + small 2")} | {probes.Average(p => p.RssLoaded) / 1048576:0} | " +
                              $"{probes.Average(p => p.Ms1):0.0} | {probes.Average(p => p.Ms2):0.0} | {probes.Average(p => p.Ms16):0.0} |");
        var padded = rows[0];
        var withSmall = rows[2];
        Console.WriteLine($"one image: small session ÷ padded = {withSmall.Average(p => p.Ms1) / padded.Average(p => p.Ms1):0.00}; " +
                          $"memory price of the small session: {(withSmall.Average(p => p.RssLoaded) - padded.Average(p => p.RssLoaded)) / 1048576:0} MiB");
    }

    private sealed record Probe(long RssLoaded, double Ms1, double Ms2, double Ms16);

    /// <summary>The child: loads the model with the given small batch, times calls of 1, 2 and 16 images, prints JSON.</summary>
    public static int ProbeMain(string[] args)
    {
        var manifest = IngestFleet.Embedding.Models.ManifestLoader.Load(args[1]);
        var small = int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture);
        using var embedder = Embedder.Load(manifest, new EmbedderOptions
        {
            ExecutionProvider = ExecutionProvider.Cpu, IntraOpThreads = 2, FixedBatch = 16, SmallFixedBatch = small, VerifyGoldenPack = false,
        });
        GC.Collect();
        var rss = ProcessMemory.CurrentRss();
        var pixels = new float[16 * embedder.ImageLength];
        for (var i = 0; i < pixels.Length; i++) pixels[i] = (i % 97) / 97f - 0.5f;
        double Time(int n)
        {
            embedder.RunRaw(pixels, n); // warm
            var watch = Stopwatch.StartNew();
            for (var c = 0; c < Calls; c++) embedder.RunRaw(pixels, n);
            return watch.Elapsed.TotalMilliseconds / Calls;
        }
        Console.WriteLine(JsonSerializer.Serialize(new Probe(rss, Time(1), Time(2), Time(16))));
        return 0;
    }
}
