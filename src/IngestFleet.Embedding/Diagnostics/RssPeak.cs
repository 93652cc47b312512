namespace IngestFleet.Embedding.Diagnostics;

/// <summary>The highest RSS seen while it was open: by the background sampler, and by explicit <see cref="Sample"/> calls
/// at batch steps.</summary>
public sealed class RssPeak : IDisposable
{
    private long _peak;

    internal RssPeak() => Sample();

    public long PeakBytes => Interlocked.Read(ref _peak);

    /// <summary>Reads RSS now and keeps it if it is the highest so far (call at each step boundary).</summary>
    public void Sample() => Offer(ProcessMemory.CurrentRss());

    public void Offer(long rss) => InterlockedMax(ref _peak, rss);

    /// <summary>Raises <paramref name="target"/> to <paramref name="value"/> if it is higher, atomically.</summary>
    internal static void InterlockedMax(ref long target, long value)
    {
        var current = Interlocked.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current) return;
            current = seen;
        }
    }

    public void Dispose()
    {
        Sample();
        RssSampler.Stop(this);
    }
}
