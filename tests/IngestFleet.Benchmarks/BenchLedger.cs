using System.Collections.Concurrent;
using IngestFleet.Worker.Processing;

namespace IngestFleet.Benchmarks;

/// <summary>What the benchmarks measure per batch, collected from the worker's <see cref="FleetLedger.BatchCompleted"/>:
/// stage time sums and per-class latencies (kept here, not in production code).</summary>
internal sealed class BenchLedger : IDisposable
{
    private readonly FleetLedger _ledger;
    private readonly ConcurrentDictionary<string, ConcurrentQueue<double>> _latencies = new(StringComparer.Ordinal);
    private long _fetchTicks, _preprocessTicks, _inferenceTicks, _writeTicks;

    public BenchLedger(FleetLedger ledger)
    {
        _ledger = ledger;
        _ledger.BatchCompleted += OnBatch;
    }

    public TimeSpan FetchTime => TimeSpan.FromTicks(Interlocked.Read(ref _fetchTicks));
    public TimeSpan PreprocessTime => TimeSpan.FromTicks(Interlocked.Read(ref _preprocessTicks));
    public TimeSpan InferenceTime => TimeSpan.FromTicks(Interlocked.Read(ref _inferenceTicks));
    public TimeSpan WriteTime => TimeSpan.FromTicks(Interlocked.Read(ref _writeTicks));

    public double[] Latencies(string priority) => _latencies.TryGetValue(priority, out var q) ? q.ToArray() : [];

    public void ClearLatencies() => _latencies.Clear();

    private void OnBatch(object? sender, BatchCompletedEventArgs c)
    {
        Interlocked.Add(ref _fetchTicks, c.Report.Timings.FetchSum.Ticks);
        Interlocked.Add(ref _preprocessTicks, c.Report.Timings.PreprocessSum.Ticks);
        Interlocked.Add(ref _inferenceTicks, c.Report.Timings.Inference.Ticks);
        Interlocked.Add(ref _writeTicks, c.Report.Write.Ticks);
        var q = _latencies.GetOrAdd(c.Priority, _ => new ConcurrentQueue<double>());
        foreach (var l in c.LatenciesSeconds) q.Enqueue(l);
    }

    public void Dispose() => _ledger.BatchCompleted -= OnBatch;
}
