using System.Diagnostics;
using IngestFleet.Embedding.Inference;
using IngestFleet.ModelTools;

namespace IngestFleet.Benchmarks;

/// <summary>Raw ORT images/s and p95 batch latency for the ViT-B/32-size tower, batch × intra-op threads.</summary>
internal static class OrtBenchmark
{
    public static void Run(bool quick)
    {
        var manifest = BenchPaths.VitB32();
        var batches = new[] { 1, 8, 16, 32 };
        var threads = new[] { 1, 2 };
        var rng = new SeededRandom(5);
        var input = rng.Normal(32 * 3 * 224 * 224, 1.0);
        Console.WriteLine();
        Console.WriteLine($"## Raw ONNX Runtime {OrtRuntime.Version}, ViT-B/32-size tower ({new FileInfo(manifest.OnnxPath).Length / 1e6:0} MB), CPU EP");
        Console.WriteLine("| threads | batch | images/s | p50 batch ms | p95 batch ms | batches |");
        Console.WriteLine("|---|---|---|---|---|---|");
        foreach (var t in threads)
        {
            using var embedder = Embedder.Load(manifest, new EmbedderOptions { ExecutionProvider = ExecutionProvider.Cpu, IntraOpThreads = t, VerifyGoldenPack = t == threads[0] });
            foreach (var b in batches)
            {
                embedder.RunRaw(input.AsMemory(0, b * embedder.ImageLength), b); // warm-up
                var minImages = quick ? 16 : 64;
                var runs = Math.Max(quick ? 3 : 8, (minImages + b - 1) / b);
                var latencies = new List<double>();
                var sw = Stopwatch.StartNew();
                for (var i = 0; i < runs; i++)
                {
                    var t0 = Stopwatch.GetTimestamp();
                    embedder.RunRaw(input.AsMemory(0, b * embedder.ImageLength), b);
                    latencies.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                }
                var ips = runs * b / sw.Elapsed.TotalSeconds;
                Console.WriteLine($"| {t} | {b} | {ips:0.0} | {BenchPaths.Percentile(latencies, 50):0} | {BenchPaths.Percentile(latencies, 95):0} | {runs} |");
            }
        }
    }
}
