using IngestFleet.Embedding;

namespace IngestFleet.Worker.Scheduling;

/// <summary>
/// Strict-priority scheduling of CPU stages across batches of different priority classes. Capacity is the node's
/// cores; a stage waits until its units are free, no more urgent (or earlier, same-level) stage is waiting and no
/// more urgent batch is in progress (<see cref="Claim"/>); I/O steps of a less urgent batch (its fetches and writes)
/// also wait while a more urgent batch is in progress, so they do not queue ahead of it at the object store. So bulk
/// runs only on what online leaves: an online batch shares the cores at most with the bulk stages already running
/// (one micro-batch inference, short while urgent work is about, see <see cref="UrgentWithin"/>; a libvips decode,
/// which pauses at its next read, see <see cref="IStageGate.MustYield"/>), never with a whole bulk batch.
/// Within a level, stages run first come, first served.
/// </summary>
public sealed class PriorityGate(int capacity, int levels, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly long[] _lastClaimed = new long[Math.Max(1, levels)]; // per level: when a claim began or ended (0 = never)
    private readonly Lock _lock = new();
    private readonly LinkedList<Waiter>[] _waiting = Enumerable.Range(0, Math.Max(1, levels)).Select(_ => new LinkedList<Waiter>()).ToArray();
    private readonly int[] _claims = new int[Math.Max(1, levels)];
    private readonly List<TaskCompletionSource>[] _turns = Enumerable.Range(0, Math.Max(1, levels)).Select(_ => new List<TaskCompletionSource>()).ToArray();
    private int _free = Math.Max(1, capacity);
    private int _urgentClaims; // claims of every level but the last (the only ones that can outrank another), for MustYield's lock-free fast path

    public int Capacity { get; } = Math.Max(1, capacity);

    /// <summary>The gate seen by work of one priority level (0 = most urgent).</summary>
    public IStageGate For(int level) => new LevelGate(this, Math.Clamp(level, 0, _waiting.Length - 1));

    /// <summary>
    /// Marks a batch of this level as in progress until disposed: while any is, no stage of a less urgent level is
    /// started (stages already running finish). This is what keeps bulk off the cores while an online batch is between
    /// its stages (fetch done, waiting for its next decode or inference), instead of only between grants.
    /// </summary>
    public IDisposable Claim(int level)
    {
        level = Math.Clamp(level, 0, _claims.Length - 1);
        lock (_lock)
        {
            _claims[level]++;
            if (level < _claims.Length - 1) _urgentClaims++;
            _lastClaimed[level] = _time.GetTimestamp();
        }
        return new ClaimRelease(this, level);
    }

    private void Unclaim(int level)
    {
        lock (_lock)
        {
            _claims[level]--;
            if (level < _claims.Length - 1) _urgentClaims--;
            _lastClaimed[level] = _time.GetTimestamp();
            GrantWaiting();
            for (var l = 0; l < _turns.Length; l++)
            {
                if (_turns[l].Count == 0 || Outranked(l)) continue;
                foreach (var t in _turns[l]) t.TrySetResult();
                _turns[l].Clear();
            }
        }
    }

    private ValueTask WaitForTurnAsync(int level, CancellationToken cancellationToken)
    {
        TaskCompletionSource turn;
        lock (_lock)
        {
            if (!Outranked(level)) return ValueTask.CompletedTask;
            turn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _turns[level].Add(turn);
        }
        return new ValueTask(cancellationToken.CanBeCanceled ? turn.Task.WaitAsync(cancellationToken) : turn.Task);
    }

    /// <summary>Whether a level more urgent than <paramref name="level"/> has a batch in progress, or had one within
    /// <paramref name="window"/>: while it has, less urgent batches make short inference calls.</summary>
    public bool UrgentWithin(int level, TimeSpan window)
    {
        lock (_lock)
        {
            for (var l = 0; l < Math.Min(level, _claims.Length); l++)
                if (_claims[l] > 0 || (_lastClaimed[l] != 0 && _time.GetElapsedTime(_lastClaimed[l]) <= window)) return true;
            return false;
        }
    }

    private bool MustYield(int level)
    {
        if (level == 0 || Volatile.Read(ref _urgentClaims) == 0) return false;
        lock (_lock)
        {
            if (!Outranked(level)) return false;
            for (var l = 0; l < level; l++)
                if (_waiting[l].Count > 0) return false; // it waits for units: the paused stage must finish and free its own
            return true;
        }
    }

    // Under the lock: whether a more urgent level has a batch in progress.
    private bool Outranked(int level)
    {
        for (var l = 0; l < level; l++)
            if (_claims[l] > 0) return true;
        return false;
    }

    /// <summary>Units in use right now (for tests and diagnostics).</summary>
    public int InUse
    {
        get { lock (_lock) return Capacity - _free; }
    }

    private ValueTask<IDisposable> EnterAsync(int level, int units, CancellationToken cancellationToken)
    {
        units = Math.Clamp(units, 1, Capacity);
        Waiter waiter;
        lock (_lock)
        {
            var aheadOrEqual = false;
            for (var l = 0; l <= level && !aheadOrEqual; l++) aheadOrEqual = _waiting[l].Count > 0;
            if (!aheadOrEqual && _free >= units && !Outranked(level))
            {
                _free -= units;
#pragma warning disable CA2000 // the grant is the caller's to dispose: it returns the units
                return ValueTask.FromResult<IDisposable>(new Grant(this, units));
#pragma warning restore CA2000
            }
            waiter = new Waiter(units, new TaskCompletionSource<IDisposable>(TaskCreationOptions.RunContinuationsAsynchronously));
            waiter.Node = _waiting[level].AddLast(waiter);
        }
        if (cancellationToken.CanBeCanceled)
        {
            var registration = cancellationToken.Register(() =>
            {
                lock (_lock)
                {
                    if (waiter.Node?.List is null) return; // already granted
                    waiter.Node.List.Remove(waiter.Node);
                    waiter.Node = null;
                    GrantWaiting(); // a big waiter leaving may unblock smaller ones behind it
                }
                waiter.Completion.TrySetCanceled(cancellationToken);
            });
            _ = waiter.Completion.Task.ContinueWith(_ => registration.Dispose(), TaskScheduler.Default);
        }
        return new ValueTask<IDisposable>(waiter.Completion.Task);
    }

    private void Release(int units)
    {
        lock (_lock)
        {
            _free += units;
            GrantWaiting();
        }
    }

    // Called under the lock: grant from the most urgent level down, stopping at the first waiter that does not fit
    // (so a waiting inference is not overtaken forever by single-unit decodes of the same or a lower level).
    private void GrantWaiting()
    {
        for (var level = 0; level < _waiting.Length; level++)
        {
            var queue = _waiting[level];
            if (queue.First is not null && Outranked(level)) return;
            while (queue.First is { } head)
            {
                var w = head.Value;
                if (w.Units > _free) return;
                queue.RemoveFirst();
                w.Node = null;
                _free -= w.Units;
#pragma warning disable CA2000 // the grant is the waiter's to dispose: it returns the units
                if (!w.Completion.TrySetResult(new Grant(this, w.Units))) _free += w.Units;
#pragma warning restore CA2000
            }
        }
    }

    private sealed class Waiter(int units, TaskCompletionSource<IDisposable> completion)
    {
        public int Units { get; } = units;
        public TaskCompletionSource<IDisposable> Completion { get; } = completion;
        public LinkedListNode<Waiter>? Node { get; set; }
    }

    private sealed class Grant(PriorityGate gate, int units) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) gate.Release(units);
        }
    }

    private sealed class ClaimRelease(PriorityGate gate, int level) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) gate.Unclaim(level);
        }
    }

    private sealed class LevelGate(PriorityGate gate, int level) : IStageGate
    {
        public ValueTask<IDisposable> EnterAsync(int units, CancellationToken cancellationToken) => gate.EnterAsync(level, units, cancellationToken);

        public ValueTask WaitForTurnAsync(CancellationToken cancellationToken) => gate.WaitForTurnAsync(level, cancellationToken);

        public bool MustYield() => gate.MustYield(level);
    }
}
