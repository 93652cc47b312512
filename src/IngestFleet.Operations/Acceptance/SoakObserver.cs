using System.Collections.Concurrent;
using IngestFleet.Embedding.Diagnostics;
using IngestFleet.Worker.Processing;

namespace IngestFleet.Operations.Acceptance;

/// <summary>Collects what a soak measures from the worker's ledger (every batch) and a paging sampler: each sample is
/// what the kernel swapped out since the previous one (its cumulative counters, not the swap level, which stays up long
/// after any pressure); -1 where the counters cannot be read.</summary>
public sealed class SoakObserver : IDisposable
{
    private readonly FleetLedger _ledger;
    private readonly TimeProvider _time;
    private readonly DateTimeOffset _started;
    private readonly ITimer _swapTimer;

    public SoakObserver(FleetLedger ledger, TimeProvider time, TimeSpan swapInterval)
    {
        _ledger = ledger;
        _time = time;
        _started = time.GetUtcNow();
        _ledger.BatchCompleted += OnBatch;
        _swapTimer = time.CreateTimer(_ => SampleSwap(), null, TimeSpan.Zero, swapInterval);
    }

    public ConcurrentQueue<SoakBatch> Batches { get; } = new();
    public ConcurrentQueue<SoakSample> Swap { get; } = new();

    private double Now => (_time.GetUtcNow() - _started).TotalSeconds;

    private void OnBatch(object? sender, BatchCompletedEventArgs e) => Batches.Enqueue(new SoakBatch(
        Now, e.Priority, e.Size, e.Report.Embedded + e.Report.AlreadyPresent, e.Report.DeadLettered, e.Report.Timings.ComputeWall.TotalMilliseconds,
        e.LatenciesSeconds.ToArray(), e.RejectionsByReason, e.Report.Timings.PeakRssDecodeBytes, e.Report.Timings.PeakRssInferenceBytes,
        e.Report.Timings.PeakRssBytes));

    private PagingCounters? _lastPaging;

    private void SampleSwap()
    {
        var now = PagingCounters.Read();
        var swappedOut = now is { } n ? _lastPaging is { } last ? n.Since(last).SwappedOutBytes : 0 : -1;
        _lastPaging = now;
        Swap.Enqueue(new SoakSample(Now, swappedOut));
    }

    public void Dispose()
    {
        _ledger.BatchCompleted -= OnBatch;
        _swapTimer.Dispose();
    }
}

/// <summary>One batch as the soak saw it (seconds since the soak started).</summary>
public sealed record SoakBatch(double At, string Priority, int Size, int Embedded, int DeadLettered, double ComputeMs,
    double[] LatenciesSeconds, IReadOnlyDictionary<string, int> Rejections, long PeakRssDecodeBytes, long PeakRssInferenceBytes, long PeakRssBatchBytes);

/// <summary>One sample of a quantity over time (seconds since the soak started).</summary>
public sealed record SoakSample(double At, long Value);
