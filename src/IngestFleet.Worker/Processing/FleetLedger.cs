namespace IngestFleet.Worker.Processing;

/// <summary>Process-wide counts of finished items: the embedded mode waits on them, health and tests read them, and
/// observers (soak runs, benchmarks) subscribe to <see cref="BatchCompleted"/> for per-batch detail.</summary>
public sealed class FleetLedger : IDisposable
{
    private long _items, _embedded, _present, _dead, _batches;
    private readonly SemaphoreSlim _changed = new(0);

    /// <summary>Raised after every batch, on the batch's thread; handlers must be quick and must not throw.</summary>
    public event EventHandler<BatchCompletedEventArgs>? BatchCompleted;

    public long Items => Interlocked.Read(ref _items);
    public long Embedded => Interlocked.Read(ref _embedded);
    public long AlreadyPresent => Interlocked.Read(ref _present);
    public long DeadLettered => Interlocked.Read(ref _dead);
    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>Counts one finished batch; every item of it had exactly one outcome, so the outcomes sum to its size.</summary>
    public void Record(BatchCompletedEventArgs completion)
    {
        var r = completion.Report;
        Interlocked.Add(ref _embedded, r.Embedded);
        Interlocked.Add(ref _present, r.AlreadyPresent);
        Interlocked.Add(ref _dead, r.DeadLettered);
        Interlocked.Increment(ref _batches);
        Interlocked.Add(ref _items, r.Embedded + r.AlreadyPresent + r.DeadLettered);
        BatchCompleted?.Invoke(this, completion);
        _changed.Release();
    }

    /// <summary>Waits until at least <paramref name="items"/> items have finished.</summary>
    public async Task WaitForAsync(long items, Action<long>? progress, CancellationToken cancellationToken)
    {
        while (Items < items)
        {
            await _changed.WaitAsync(TimeSpan.FromMilliseconds(500), cancellationToken);
            progress?.Invoke(Items);
        }
        progress?.Invoke(Items);
    }

    public void Dispose() => _changed.Dispose();
}
