using System.Globalization;
using IngestFleet.Embedding.Preprocessing;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace IngestFleet.Benchmarks;

/// <summary>
/// Issue 21, point 4: a batch of 16 PNGs of 7071 × 7071 (50 megapixels each, a few hundred KB encoded: every image limit
/// passes) decoded on 16 threads, as a worker with decode parallelism 16 would, once under the default decode budget
/// (100 megapixels) and once with a budget large enough never to wait. Each run is its own child process; the peak RSS
/// (VmHWM) of each is printed side by side with the budget's own count of the most pixels in decode at once.
/// </summary>
internal static class DecodeBudgetBenchmark
{
    private const int Side = 7071;
    private const int Images = 16;

    public static async Task RunAsync()
    {
        Console.WriteLine($"\n## decode budget: {Images} PNGs of {Side} × {Side} decoded on {Images} threads");
        Console.WriteLine("| budget (megapixels) | most in decode at once (megapixels) | peak RSS (MiB) | wall (s) |");
        Console.WriteLine("|---|---|---|---|");
        var rss = new List<long>();
        foreach (var budget in new[] { new ImageLimits().DecodeBudgetPixels, (long)Side * Side * Images * 2 })
        {
            var (stdout, peak) = await BenchPaths.RunChildAsync(BenchPaths.Dotnet(Path.Combine(AppContext.BaseDirectory, "IngestFleet.Benchmarks.dll"),
                "decode-budget-probe", budget.ToString(CultureInfo.InvariantCulture)), null);
            var fields = stdout.Trim().Split('\n')[^1].Split(' ');
            Console.WriteLine($"| {budget / 1_000_000} | {long.Parse(fields[0], CultureInfo.InvariantCulture) / 1_000_000} | {peak >> 20} | {fields[1]} |");
            rss.Add(peak);
        }
        Console.WriteLine($"peak RSS under the default budget ÷ without a budget that binds: {(double)rss[0] / rss[1]:0.00}");
    }

    /// <summary>The child: one encoded PNG, decoded by 16 threads at once under the given budget; prints the most pixels
    /// the budget saw in decode at once and the wall time.</summary>
    public static int ProbeMain(string[] args)
    {
        byte[] png;
        using (var image = new Image<L8>(Side, Side, new L8(128)))
        using (var stream = new MemoryStream())
        {
            image.SaveAsPng(stream);
            png = stream.ToArray();
        }
        GC.Collect();
        var p = new ImagePreprocessor(PreprocessContracts.Clip(224), new ImageLimits { DecodeBudgetPixels = long.Parse(args[1], CultureInfo.InvariantCulture) });
        var watch = System.Diagnostics.Stopwatch.StartNew();
        using var start = new Barrier(Images);
        var threads = Enumerable.Range(0, Images).Select(_ => new Thread(() =>
        {
            var tensor = new float[p.TensorLength];
            start.SignalAndWait();
            var outcome = p.Preprocess(png, tensor);
            if (!outcome.Ok) throw new InvalidOperationException(outcome.Detail);
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Console.WriteLine($"{p.Budget.PeakPixels} {watch.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)}");
        return 0;
    }
}
