using IngestFleet.Worker.Node;
using IngestFleet.Embedding.Models;
using IngestFleet.Embedding.Inference;
using MathNet.Numerics.Statistics;

namespace IngestFleet.Operations.Acceptance;

/// <summary>Turns what a <see cref="SoakObserver"/> saw into a <see cref="SoakReport"/>.</summary>
public static class SoakReportBuilder
{
    /// <summary>Swap above this is "in use" for the sustained-swap rule.</summary>
    /// <summary>Swap-outs per sample above this count as paging (a few pages of kernel housekeeping do not).</summary>
    public const long SwapThresholdBytes = 1L * 1024 * 1024;

    public static SoakReport Build(SoakInputs i)
    {
        var ran = (i.EndedAt - i.StartedAt).TotalSeconds;
        // The first tenth of the run (at most a minute) is the process warming up (JIT tiers, ORT arenas, page cache),
        // which tune leaves out too; the p95 gate compares steady state with steady state.
        var warmUp = Math.Min(60, i.PlannedSeconds / 10);
        // The tuned cell is measured on the saturation phase's full batches when it ran (a curve below capacity never
        // fills a batch); otherwise on every steady-state batch.
        // The first batch that completes in the phase started while the backlog was still being published: left out.
        var steady = i.SaturationStartSeconds is { } saturation
            ? i.Batches.Where(b => b.At >= saturation).OrderBy(b => b.At).Skip(1)
            : i.Batches.Where(b => b.At >= warmUp);
        var m = i.Embedder.Manifest;
        var unexplained = i.Embedder.UnexplainedFallbacks;
        return new SoakReport
        {
            Mode = i.Mode, Curve = i.Curve, StartedAt = i.StartedAt, EndedAt = i.EndedAt, PlannedSeconds = i.PlannedSeconds, RanSeconds = ran,
            Completed = i.Completed,
            Node = new SoakNode
            {
                Id = i.NodeId, Host = Environment.MachineName, Os = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
                Arch = System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString(), LogicalCores = Environment.ProcessorCount,
                MemoryBytes = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes,
            },
            Serving = new SoakServing
            {
                ModelRevision = m.Revision, ExecutionProvider = i.Embedder.ExecutionProvider.Name(), Batch = i.Batch,
                IntraOpThreads = i.Embedder.Options.EffectiveIntraOpThreads, InterOpThreads = i.Embedder.Options.InterOpThreads,
            },
            Contract = new SoakContract
            {
                ShortEdge = m.Preprocess.Size, Crop = m.Preprocess.Crop, ResizeMode = m.Preprocess.ResizeMode.Name(), TokenCap = m.Text?.TokenCap,
                Text = SoakTextContract.Of(m),
                OutputDimension = m.OutputDimension, ContractHash = m.Preprocess.ContractHash(), GoldenWorstDistance = i.Embedder.GoldenWorstDistance,
                GoldenEpsilon = m.Golden.EpsilonFor(i.Embedder.ExecutionProvider.Name()),
            },
            Totals = new SoakTotals
            {
                Published = i.PublishedByClass.Values.Sum(), Embedded = i.Batches.Sum(b => (long)b.Embedded), DeadLettered = i.Batches.Sum(b => (long)b.DeadLettered),
                Batches = i.Batches.Count, PublishedByClass = i.PublishedByClass,
                ErrorsByReason = i.Batches.SelectMany(b => b.Rejections).GroupBy(kv => kv.Key).ToDictionary(g => g.Key, g => g.Sum(kv => (long)kv.Value), StringComparer.Ordinal),
            },
            Windows = Windows(i.Batches, ran, i.WindowSeconds),
            BatchP95MsBySize = steady.GroupBy(b => b.Size).OrderBy(g => g.Key)
                .ToDictionary(g => g.Key.ToString(System.Globalization.CultureInfo.InvariantCulture), g => P95(g.Select(b => b.ComputeMs))),
            // Publish → vector latency is the curve's: the saturation phase is a deliberate backlog, not production traffic.
            LatencyP95SecondsByClass = i.Batches.Where(b => i.SaturationStartSeconds is not { } start || b.At < start).GroupBy(b => b.Priority)
                .ToDictionary(g => g.Key, g => P95(g.SelectMany(b => b.LatenciesSeconds)), StringComparer.Ordinal),
            WaitSloSecondsByClass = i.WaitSloByClass,
            Rss = i.Batches.SelectMany(b => new[]
            {
                new SoakRssSample(b.At, "decode", b.PeakRssDecodeBytes), new SoakRssSample(b.At, "inference", b.PeakRssInferenceBytes),
                new SoakRssSample(b.At, "batch", b.PeakRssBatchBytes),
            }).ToList(),
            Swap = i.Swap,
            SwapMeasure = SoakReport.SwappedOutPerSample,
            SwapVerdict = Sustained(i.Swap, SwapThresholdBytes, Math.Max(3, Math.Min(60, ran / 10))),
            SaturationStartSeconds = i.SaturationStartSeconds,
            UnexplainedFallbacks = i.Embedder.UnexplainedFallbackCount,
            Placement = new SoakPlacement
            {
                ExecutionProvider = i.Embedder.ExecutionProvider.Name(), EpNodeShare = i.Embedder.Placement.EpNodeShare,
                MinEpNodeShare = m.MinEpNodeShare, Summary = i.Embedder.Placement.ShareText,
            },
            UnexplainedFallbackNodes = unexplained,
            Lifecycle = i.Lifecycle,
        };
    }

    private static List<SoakWindow> Windows(IReadOnlyList<SoakBatch> batches, double ran, double width)
    {
        var windows = new List<SoakWindow>();
        for (var start = 0.0; start < ran; start += width)
        {
            var end = Math.Min(ran, start + width);
            var inWindow = batches.Where(b => b.At >= start && b.At < end).ToList();
            var images = inWindow.Sum(b => (long)b.Embedded);
            windows.Add(new SoakWindow
            {
                StartSeconds = start, EndSeconds = end, Images = images, ImagesPerHour = end > start ? images * 3600 / (end - start) : 0,
                Errors = inWindow.SelectMany(b => b.Rejections).GroupBy(kv => kv.Key).ToDictionary(g => g.Key, g => g.Sum(kv => (long)kv.Value), StringComparer.Ordinal),
                P95SecondsByClass = inWindow.GroupBy(b => b.Priority).ToDictionary(g => g.Key, g => P95(g.SelectMany(b => b.LatenciesSeconds)), StringComparer.Ordinal),
                PeakRssBytes = inWindow.Count == 0 ? 0 : inWindow.Max(b => b.PeakRssBatchBytes),
            });
        }
        return windows;
    }

    /// <summary>Swap is sustained when consecutive samples above the threshold span at least <paramref name="minSeconds"/>.</summary>
    public static SoakSwapVerdict Sustained(IReadOnlyList<SoakSample> samples, long threshold, double minSeconds)
    {
        double longest = 0, runStart = -1;
        foreach (var s in samples)
        {
            if (s.Value > threshold)
            {
                if (runStart < 0) runStart = s.At;
                longest = Math.Max(longest, s.At - runStart);
            }
            else runStart = -1;
        }
        return new SoakSwapVerdict
        {
            ThresholdBytes = threshold, MinSeconds = minSeconds, Sustained = longest >= minSeconds, LongestSeconds = longest,
            MaxBytes = samples.Count == 0 ? 0 : samples.Max(s => s.Value),
        };
    }

    private static double P95(IEnumerable<double> values)
    {
        var list = values.ToList();
        return list.Count == 0 ? double.NaN : Statistics.Percentile(list, 95);
    }
}

/// <summary>What a soak run hands to <see cref="SoakReportBuilder"/>.</summary>
public sealed record SoakInputs(
    string Mode, string Curve, DateTimeOffset StartedAt, DateTimeOffset EndedAt, double PlannedSeconds, bool Completed, string NodeId,
    Embedder Embedder, int Batch, IReadOnlyDictionary<string, long> PublishedByClass, IReadOnlyDictionary<string, double> WaitSloByClass,
    IReadOnlyList<SoakBatch> Batches, IReadOnlyList<SoakSample> Swap, IReadOnlyList<LifecycleEvent> Lifecycle, double WindowSeconds)
{
    /// <summary>When the saturation phase (full batches back to back) began, in seconds from the start; null when none ran.</summary>
    public double? SaturationStartSeconds { get; init; }
}
