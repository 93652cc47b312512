using System.Diagnostics;
using System.Globalization;
using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Models;

namespace IngestFleet.Benchmarks;

/// <summary>
/// What the worker's second (low-priority) CPU session costs in memory: one process per way of loading, each reporting
/// its resident set after loading and after one batch through every session, and its peak. "two" is two independent
/// sessions (the worker before shared weights), "shared" is two sessions over one <see cref="SharedWeights"/> (the
/// worker now, when it serves more than one class on the CPU EP).
/// </summary>
internal static class WeightsBenchmark
{
    private const int Batch = 16;
    private const int Threads = 2;

    public static async Task RunAsync()
    {
        var manifest = BenchPaths.VitB32();
        Console.WriteLine($"== weights: {manifest.Revision} ({new FileInfo(manifest.OnnxPath).Length >> 20} MiB ONNX), CPU EP, {Threads} intra-op threads, one batch of {Batch} per session");
        var rows = new Dictionary<string, (double Loaded, double AfterRun, double Peak, double BatchMs)>();
        foreach (var mode in new[] { "one", "two", "shared" })
        {
            var (stdout, _) = await BenchPaths.RunChildAsync(
                BenchPaths.Dotnet(Path.Combine(AppContext.BaseDirectory, "IngestFleet.Benchmarks.dll"), "weights-probe", mode, manifest.Directory), null);
            var f = stdout.Trim().Split(' ').Select(x => double.Parse(x, CultureInfo.InvariantCulture)).ToArray();
            rows[mode] = (f[0], f[1], f[2], f[3]);
        }
        Console.WriteLine($"{"sessions",-32} {"RSS loaded",11} {"RSS after run",14} {"peak RSS",9} {"ms/batch",9}");
        foreach (var (mode, r) in rows)
            Console.WriteLine($"{(mode switch { "one" => "one session", "two" => "two sessions, own weights", _ => "two sessions, shared weights" }),-32} {r.Loaded,8:0} MiB {r.AfterRun,11:0} MiB {r.Peak,6:0} MiB {r.BatchMs,9:0}");
        Console.WriteLine($"second session costs (after run): own weights {rows["two"].AfterRun - rows["one"].AfterRun:0} MiB, shared weights {rows["shared"].AfterRun - rows["one"].AfterRun:0} MiB; " +
                          $"shared ÷ two: RSS {rows["shared"].AfterRun / rows["two"].AfterRun:0.00}, peak {rows["shared"].Peak / rows["two"].Peak:0.00}");
    }

    /// <summary>Child process: loads the sessions one way, runs a batch through each, prints "loaded afterRun peak msPerBatch" (MiB, ms).</summary>
    public static int ProbeMain(string[] args)
    {
        var mode = args[1];
        var manifest = ManifestLoader.Load(args[2]);
        var options = new EmbedderOptions { ExecutionProvider = Embedding.Inference.ExecutionProvider.Cpu, IntraOpThreads = Threads, VerifyGoldenPack = false };
        using var weights = mode == "shared" ? SharedWeights.Load(manifest.OnnxPath) : null;
        var embedders = new List<Embedder> { Embedder.Load(manifest, options, sharedWeights: weights) };
        if (mode != "one") embedders.Add(Embedder.Load(manifest, options, sharedWeights: weights));
        var loaded = Mib(Status("VmRSS:"));
        var input = new float[Batch * embedders[0].ImageLength];
        for (var i = 0; i < input.Length; i++) input[i] = (i * 7919 % 2003) / 1001.5f - 1; // a fixed, image-like spread
        var clock = Stopwatch.StartNew();
        float[]? first = null;
        foreach (var e in embedders)
        {
            var v = e.Embed(input, Batch)[0].Vector!;
            if (first is null) first = v;
            else if (first.Zip(v).Max(t => Math.Abs(t.First - t.Second)) > 1e-4f) throw new InvalidOperationException("the sessions disagree");
        }
        var ms = clock.Elapsed.TotalMilliseconds / embedders.Count;
        Console.WriteLine(string.Join(' ', new[] { loaded, Mib(Status("VmRSS:")), Mib(Status("VmHWM:")), ms }.Select(x => x.ToString("0.0", CultureInfo.InvariantCulture))));
        foreach (var e in embedders) e.Dispose();
        return 0;
    }

    private static double Mib(long kib) => kib / 1024.0;

    private static long Status(string key) =>
        File.ReadLines("/proc/self/status").Where(l => l.StartsWith(key, StringComparison.Ordinal))
            .Select(l => long.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture)).First();
}
