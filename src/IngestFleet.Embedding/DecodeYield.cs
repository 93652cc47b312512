namespace IngestFleet.Embedding;

/// <summary>
/// The yield point of one less urgent decode that runs in native code (libvips decodes on its own worker threads, at
/// normal OS priority, so the low priority of the thread that asked for the decode does not reach it). Called before
/// each read of the JPEG, it sleeps in short slices while the stage gate says a more urgent batch is in progress
/// (<see cref="IStageGate.MustYield"/>), so the decode stops mid-image and the cores go to the urgent work. It goes on
/// at once when a more urgent stage waits for a unit (the paused decode holds one), when anyone waits for the decode
/// budget (it holds a share), when the batch is cancelled, or when this decode has paused for its whole allowance.
/// It never throws: it runs inside libvips' read callback.
/// </summary>
public static class DecodeYield
{
    /// <summary>How long one sleep lasts before the conditions are read again.</summary>
    private static readonly TimeSpan Slice = TimeSpan.FromMilliseconds(2);

    /// <summary>A yield point for one decode; <paramref name="allowance"/> is the most it pauses in all, as
    /// <paramref name="time"/> measures it (the system clock unless given); <paramref name="sleep"/> is
    /// <see cref="Thread.Sleep(TimeSpan)"/> unless given.</summary>
    public static Action For(IStageGate stages, Func<bool> budgetWanted, TimeSpan allowance, CancellationToken cancellationToken,
        TimeProvider? time = null, Action<TimeSpan>? sleep = null)
    {
        time ??= TimeProvider.System;
        sleep ??= Thread.Sleep;
        var left = allowance;
        return () =>
        {
            while (left > TimeSpan.Zero && !cancellationToken.IsCancellationRequested && stages.MustYield() && !budgetWanted())
            {
                var started = time.GetTimestamp();
                sleep(Slice);
                left -= time.GetElapsedTime(started);
            }
        };
    }
}
