using System.Diagnostics;
using IngestFleet.Embedding.Preprocessing;
using NetVips;

namespace IngestFleet.Benchmarks;

/// <summary>
/// Per 2048-px catalog JPEG for the CLIP contract (decode, resize, crop, normalise into the tensor), single thread,
/// three pipelines measured side by side in one run, round-robin per block of photos: the fleet's fast path (libvips
/// shrink-on-load behind ImageSharp's checks), the fleet's ImageSharp path (full decode), and a bare libvips reference
/// (thumbnail to 224 + centre crop + reading the pixels out: the least work any decoder can do for the same output).
/// Wall ms per image and CPU ms per image (process CPU time over each pipeline's blocks).
/// </summary>
internal static class PreprocessBenchmark
{
    public static void Run(bool quick)
    {
        var photos = BenchPaths.CatalogPhotos.Select(File.ReadAllBytes).ToArray();
        var rounds = quick ? 5 : 25;
        var fast = new ImagePreprocessor(PreprocessContracts.Clip(224), new ImageLimits { JpegDecoder = "libvips" });
        var full = new ImagePreprocessor(PreprocessContracts.Clip(224), new ImageLimits { JpegDecoder = "imagesharp" });
        var tensor = new float[fast.TensorLength];
        NetVips.NetVips.Concurrency = 1;
        NetVips.Cache.Max = 0;

        void Fleet(ImagePreprocessor p, byte[] b)
        {
            if (!p.Preprocess(b, tensor).Ok) throw new InvalidOperationException("catalog photo rejected");
        }
        static void Vips(byte[] b)
        {
            using var img = Image.ThumbnailBuffer(b, 224, height: 224, crop: Enums.Interesting.Centre);
            var pixels = img.WriteToMemory<byte>();
            if (pixels.Length != 224 * 224 * 3) throw new InvalidOperationException("unexpected libvips output");
        }

        var pipelines = new (string Name, Action<byte[]> Once)[]
        {
            ("IngestFleet fast path (libvips shrink-on-load after ImageSharp's checks → NCHW floats)", b => Fleet(fast, b)),
            ("IngestFleet ImageSharp 2.1.13 path (full decode → NCHW floats)", b => Fleet(full, b)),
            ($"libvips {NetVips.NetVips.Version(0)}.{NetVips.NetVips.Version(1)} thumbnail reference (pixels only)", Vips),
        };
        foreach (var b in photos) foreach (var p in pipelines) p.Once(b); // warm-up, JIT
        var wall = pipelines.Select(_ => new List<double>()).ToArray();
        var cpu = new double[pipelines.Length];
        var me = Process.GetCurrentProcess();
        for (var r = 0; r < rounds; r++)
            for (var k = 0; k < pipelines.Length; k++)
            {
                me.Refresh();
                var cpu0 = me.TotalProcessorTime;
                foreach (var b in photos)
                {
                    var t = Stopwatch.GetTimestamp();
                    pipelines[k].Once(b);
                    wall[k].Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                }
                me.Refresh();
                cpu[k] += (me.TotalProcessorTime - cpu0).TotalMilliseconds;
            }
        var n = rounds * photos.Length;
        Console.WriteLine();
        Console.WriteLine($"## Preprocessing, 2048-px catalog JPEGs ({photos.Length} photos × {rounds} rounds, 1 thread)");
        Console.WriteLine("| pipeline | CPU ms/image | wall mean ms | p50 | p95 |");
        Console.WriteLine("|---|---|---|---|---|");
        for (var k = 0; k < pipelines.Length; k++)
            Console.WriteLine($"| {pipelines[k].Name} | {cpu[k] / n:0.0} | {wall[k].Average():0.0} | {BenchPaths.Percentile(wall[k], 50):0.0} | {BenchPaths.Percentile(wall[k], 95):0.0} |");
        Console.WriteLine($"CPU per image ÷ libvips reference: fast path {cpu[0] / cpu[2]:0.00} (target ≤ 1.0), ImageSharp path {cpu[1] / cpu[2]:0.00}; " +
            $"fast-path JPEGs {fast.JpegCounts.Vips}, fallbacks {fast.JpegCounts.Fallbacks}");
    }
}
