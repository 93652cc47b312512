using System.Diagnostics;
using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Models;
using IngestFleet.Embedding.Preprocessing;

namespace IngestFleet.Benchmarks;

/// <summary>
/// The most images per second the cores can embed with this model: raw ONNX Runtime images/s (the same batch and
/// intra-op threads, random pixels, no decode) and the CPU time of one image's decode and resize (the fleet's own
/// preprocessor, on the same 2048-px JPEGs, one at a time on a quiet process). Inference takes threads ÷ ORT images/s
/// CPU-seconds per image and decode its CPU time, so the cores give at most cores ÷ (threads ÷ ORT + decode) images/s,
/// however the two are overlapped. A pipeline's images/s ÷ this bound is how much of the machine it uses.
/// </summary>
internal sealed record CpuBound(double OrtImagesPerSecond, double DecodeCpuMs, int Threads, int Cores)
{
    public double ImagesPerSecond => Cores / (Threads / OrtImagesPerSecond + DecodeCpuMs / 1000);

    public override string ToString() =>
        $"CPU bound: raw ORT {OrtImagesPerSecond:0.0} images/s ({Threads} threads), decode {DecodeCpuMs:0.0} CPU-ms/image → at most " +
        $"{Cores} ÷ ({Threads} ÷ {OrtImagesPerSecond:0.0} + {DecodeCpuMs / 1000:0.0000}) = {ImagesPerSecond:0.0} images/s on {Cores} cores";

    public static CpuBound Measure(ModelManifest manifest, string[] photos, int batch, int threads, bool quick)
    {
        using var embedder = Embedder.Load(manifest, new EmbedderOptions { ExecutionProvider = ExecutionProvider.Cpu, IntraOpThreads = threads, VerifyGoldenPack = false });
        var pixels = new ModelTools.SeededRandom(7).Normal(batch * embedder.ImageLength, 1.0);
        embedder.RunRaw(pixels, batch); // warm-up
        var calls = quick ? 4 : 12;
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < calls; i++) embedder.RunRaw(pixels, batch);
        var ort = calls * batch / sw.Elapsed.TotalSeconds;

        var preprocessor = new ImagePreprocessor(manifest.Preprocess);
        var scratch = new float[preprocessor.TensorLength];
        var bytes = photos.Select(File.ReadAllBytes).ToArray();
        foreach (var b in bytes) preprocessor.Preprocess(b, scratch); // warm-up
        var images = quick ? 24 : 64;
        var me = Process.GetCurrentProcess();
        me.Refresh();
        var cpu0 = me.TotalProcessorTime;
        for (var i = 0; i < images; i++)
            if (!preprocessor.Preprocess(bytes[i % bytes.Length], scratch).Ok) throw new InvalidOperationException("a benchmark photo did not decode");
        me.Refresh();
        var decode = (me.TotalProcessorTime - cpu0).TotalMilliseconds / images;
        return new CpuBound(ort, decode, threads, Environment.ProcessorCount);
    }
}
