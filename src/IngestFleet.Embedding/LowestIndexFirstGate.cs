namespace IngestFleet.Embedding;

/// <summary>
/// A counting gate whose waiters are admitted lowest index first, not in arrival order. The pipeline decodes through
/// it: images arrive in whatever order their fetches finish (16 concurrent GETs from one server all finish at about
/// the same time), but inference needs them in order, starting with the first call's few. FIFO admission could decode
/// those last; this decodes whichever image that has arrived is needed soonest, and never leaves a slot idle while one
/// waits.
/// </summary>
internal sealed class LowestIndexFirstGate(int slots)
{
    private readonly Lock _lock = new();
    private readonly PriorityQueue<TaskCompletionSource, int> _waiting = new();
    private int _free = Math.Max(1, slots);

    public Task EnterAsync(int index, CancellationToken cancellationToken)
    {
        TaskCompletionSource waiter;
        lock (_lock)
        {
            if (_free > 0)
            {
                _free--;
                return Task.CompletedTask;
            }
            waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiting.Enqueue(waiter, index);
        }
        return cancellationToken.CanBeCanceled ? WaitAsync(waiter, cancellationToken) : waiter.Task;
    }

    /// <summary>A cancelled waiter stays queued; <see cref="Release"/> skips it (its TrySetResult fails) and hands the
    /// slot to the next.</summary>
    private static async Task WaitAsync(TaskCompletionSource waiter, CancellationToken cancellationToken)
    {
        await using var registration = cancellationToken.Register(() => waiter.TrySetCanceled(cancellationToken));
        await waiter.Task;
    }

    public void Release()
    {
        lock (_lock)
        {
            while (_waiting.TryDequeue(out var next, out _))
                if (next.TrySetResult()) return;
            _free++;
        }
    }
}
