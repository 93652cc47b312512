using System.Diagnostics;
using IngestFleet.Embedding.Preprocessing;
using NetVips;

namespace IngestFleet.Benchmarks;

/// <summary>
/// ms per 2048-px catalog JPEG for the CLIP contract (decode, resize, crop, normalise into the tensor), single
/// thread, with a libvips reference row measured in the same run: thumbnail (shrink-on-load) to 224 + centre crop
/// + reading the pixels out, which is the least work any decoder can do for the same output.
/// </summary>
internal static class PreprocessBenchmark
{
    public static void Run(bool quick)
    {
        var photos = BenchPaths.CatalogPhotos.Select(File.ReadAllBytes).ToArray();
        var rounds = quick ? 5 : 25;
        var pre = new ImagePreprocessor(PreprocessContracts.Clip(224));
        var tensor = new float[pre.TensorLength];
        NetVips.NetVips.Concurrency = 1;
        NetVips.Cache.Max = 0;

        double ImageSharpOnce(byte[] b)
        {
            var t = Stopwatch.GetTimestamp();
            if (!pre.Preprocess(b, tensor).Ok) throw new InvalidOperationException("catalog photo rejected");
            return Stopwatch.GetElapsedTime(t).TotalMilliseconds;
        }
        double VipsOnce(byte[] b)
        {
            var t = Stopwatch.GetTimestamp();
            using var img = Image.ThumbnailBuffer(b, 224, height: 224, crop: Enums.Interesting.Centre);
            var pixels = img.WriteToMemory<byte>();
            if (pixels.Length != 224 * 224 * 3) throw new InvalidOperationException("unexpected libvips output");
            return Stopwatch.GetElapsedTime(t).TotalMilliseconds;
        }

        foreach (var b in photos) { ImageSharpOnce(b); VipsOnce(b); } // warm-up, JIT
        var sharp = new List<double>();
        var vips = new List<double>();
        for (var r = 0; r < rounds; r++)
            foreach (var b in photos)
            {
                sharp.Add(ImageSharpOnce(b)); // interleaved so both rows see the same machine state
                vips.Add(VipsOnce(b));
            }
        Console.WriteLine();
        Console.WriteLine($"## Preprocessing, 2048-px catalog JPEGs ({photos.Length} photos × {rounds} rounds, 1 thread)");
        Console.WriteLine("| pipeline | mean ms/image | p50 | p95 |");
        Console.WriteLine("|---|---|---|---|");
        Console.WriteLine($"| ImageSharp 2.1.13 (IngestFleet, CLIP contract → NCHW floats) | {sharp.Average():0.0} | {BenchPaths.Percentile(sharp, 50):0.0} | {BenchPaths.Percentile(sharp, 95):0.0} |");
        Console.WriteLine($"| libvips {NetVips.NetVips.Version(0)}.{NetVips.NetVips.Version(1)} thumbnail (shrink-on-load) reference | {vips.Average():0.0} | {BenchPaths.Percentile(vips, 50):0.0} | {BenchPaths.Percentile(vips, 95):0.0} |");
        Console.WriteLine($"ImageSharp ÷ libvips (mean): {sharp.Average() / vips.Average():0.00}");
    }
}
