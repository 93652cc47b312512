using IngestFleet.Worker.Profiles;
using System.Diagnostics;
using IngestFleet.Embedding;
using IngestFleet.Embedding.Diagnostics;
using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Models;
using IngestFleet.Embedding.Preprocessing;
using IngestFleet.Messaging;
using MathNet.Numerics.Statistics;

namespace IngestFleet.Operations.Tuning;

/// <summary>What to sweep: every (threads, batch) cell runs the worker's own preprocess + embed pipeline on real images.</summary>
public sealed record TuneRequest(ModelManifest Manifest, ExecutionProvider ExecutionProvider, IReadOnlyList<int> Threads, IReadOnlyList<int> Batches,
    IReadOnlyList<byte[]> Images, double SecondsPerCell, double Tolerance, double? P95BudgetMs, int PerformanceCores, double RoundTripMs = 0);

/// <summary>Every measured cell, the choice by <see cref="TuneSelection"/>, and the profile a worker loads.</summary>
public sealed record TuneResult(IReadOnlyList<TuneCell> Cells, TuneChoice Choice, TunedProfile Profile, ExecutionProvider ExecutionProvider);

/// <summary>
/// The thread × batch sweep behind <c>ingestfleet tune</c>: for each intra-op thread count one ORT session, for each
/// batch size the pipeline run for the given seconds (at least 3 batches), with p50/p95/p99 batch latency, peak RSS at
/// the decode and inference steps, and what the kernel swapped out during the cell; then the documented selection rule picks the profile.
/// </summary>
public static class TuneSweep
{
    private static readonly string[] ImageExtensions = [".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"];

    /// <summary>The images of a folder that the model's preprocessing accepts, and the names (with reasons) of the rest.</summary>
    public static (List<byte[]> Usable, List<string> Skipped) LoadImages(string dir, ModelManifest manifest)
    {
        var preprocessor = new ImagePreprocessor(manifest.Preprocess);
        var usable = new List<byte[]>();
        var skipped = new List<string>();
        var scratch = new float[preprocessor.TensorLength];
        foreach (var file in Directory.GetFiles(dir).Where(f => ImageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant())).Order(StringComparer.Ordinal))
        {
            var bytes = File.ReadAllBytes(file);
            var check = preprocessor.Preprocess(bytes, scratch);
            if (check.Ok) usable.Add(bytes);
            else skipped.Add($"{Path.GetFileName(file)} ({check.Reason})");
        }
        return (usable, skipped);
    }

    public static TuneResult Run(TuneRequest request, Action<TuneCell>? onCell, CancellationToken ct)
    {
        var manifest = request.Manifest;
        var preprocessor = new ImagePreprocessor(manifest.Preprocess);
        var cells = new List<TuneCell>();
        var resolvedEp = ExecutionProvider.Cpu;
        foreach (var t in request.Threads)
        {
            using var embedder = Embedder.Load(manifest, new EmbedderOptions { ExecutionProvider = request.ExecutionProvider, IntraOpThreads = t, InterOpThreads = 1 });
            resolvedEp = embedder.ExecutionProvider;
            var pipeline = new EmbeddingPipeline(preprocessor, embedder);
            foreach (var b in request.Batches)
            {
                ct.ThrowIfCancellationRequested();
                cells.Add(Measure(pipeline, request.Images, t, b, request.SecondsPerCell, ct));
                onCell?.Invoke(cells[^1]);
            }
        }
        var choice = TuneSelection.Choose(cells, request.PerformanceCores, request.Tolerance, request.P95BudgetMs);
        var depth = TuneSelection.BatchesInFlight(choice.Cell.P50Ms, request.RoundTripMs);
        choice = choice with
        {
            Steps = [.. choice.Steps, $"batches in flight {depth}: 1 + ⌈{TuneSelection.RoundTripsPerBatch:0} × {request.RoundTripMs:0.#} ms round trip ÷ {choice.Cell.P50Ms:0} ms batch compute⌉, 2..{TuneSelection.MaxBatchesInFlight} (prefetch {depth * choice.Cell.Batch})"],
        };
        var profile = new TunedProfile
        {
            ModelRevision = manifest.Revision, ModelSha256 = manifest.Onnx.Sha256, ExecutionProvider = resolvedEp,
            IntraOpThreads = choice.Cell.Threads, InterOpThreads = 1, Batch = choice.Cell.Batch, BatchesInFlight = depth,
            Rule = TuneSelection.Rule, Tolerance = request.Tolerance, P95BudgetMs = request.P95BudgetMs, CreatedAt = DateTimeOffset.UtcNow,
            Machine = new MachineInfo { PerformanceCores = request.PerformanceCores }, Measurements = cells,
        };
        return new TuneResult(cells, choice, profile, resolvedEp);
    }

    private static TuneCell Measure(EmbeddingPipeline pipeline, IReadOnlyList<byte[]> images, int threads, int batch, double seconds, CancellationToken ct)
    {
        var next = 0;
        Func<CancellationToken, Task<ImageSource>>[] Batch()
        {
            var sources = new Func<CancellationToken, Task<ImageSource>>[batch];
            for (var i = 0; i < batch; i++)
            {
                var bytes = images[next++ % images.Count];
                sources[i] = _ => Task.FromResult(ImageSource.Of(bytes));
            }
            return sources;
        }
        var micro = new FleetOptions { BatchSize = batch }.EffectiveMicroBatch; // as the worker runs it
        pipeline.ProcessAsync(Batch(), Environment.ProcessorCount, micro, ct).GetAwaiter().GetResult(); // warm-up
        var latencies = new List<double>();
        long peak = 0, peakDecode = 0, peakInference = 0;
        var pagingBefore = PagingCounters.Read();
        var wall = Stopwatch.StartNew();
        while ((wall.Elapsed.TotalSeconds < seconds || latencies.Count < 3) && latencies.Count < 100_000)
        {
            ct.ThrowIfCancellationRequested();
            var (_, timings) = pipeline.ProcessAsync(Batch(), Environment.ProcessorCount, micro, ct).GetAwaiter().GetResult();
            latencies.Add(timings.ComputeWall.TotalMilliseconds); // the figure the soak reports per batch
            peak = Math.Max(peak, timings.PeakRssBytes);
            peakDecode = Math.Max(peakDecode, timings.PeakRssDecodeBytes);
            peakInference = Math.Max(peakInference, timings.PeakRssInferenceBytes);
        }
        var elapsed = wall.Elapsed.TotalSeconds;
        // Paging during the cell (the kernel's swap-out counter), not the swap level, which stays up after past pressure.
        var swap = pagingBefore is { } before && PagingCounters.Read() is { } after ? after.Since(before).SwappedOutBytes : -1;
        return new TuneCell
        {
            Threads = threads, Batch = batch, BatchesRun = latencies.Count, ImagesPerSecond = latencies.Count * batch / elapsed,
            P50Ms = Statistics.Percentile(latencies, 50), P95Ms = Statistics.Percentile(latencies, 95), P99Ms = Statistics.Percentile(latencies, 99),
            PeakRssBytes = peak, PeakRssDecodeBytes = peakDecode, PeakRssInferenceBytes = peakInference, SwapBytes = swap,
        };
    }
}
