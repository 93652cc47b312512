using System.Threading.RateLimiting;

namespace IngestFleet.Embedding.Preprocessing;

/// <summary>
/// How many pixels may be in decode at once, weighted by each image's area (<see cref="ImageLimits.DecodeBudgetPixels"/>).
/// A decode holds width × height of the budget (at most the whole budget) from before its pixels are allocated until
/// its tensor is written; one that does not fit waits, oldest first, on its decoding thread. Peak decode memory is then
/// bounded by the budget (about 4 bytes per pixel, measured; one image larger than the whole budget holds all of it and
/// decodes alone), not by decode parallelism or the core count. The JPEG fast path is charged the full area too, though
/// libvips decodes it shrunk: the budget stays an upper bound. 16 images of
/// 50 megapixels decoded on 16 threads under a 100-megapixel budget run two at a time. It lives as long as the process
/// (nothing to dispose: the limiter holds no unmanaged resources).
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001", Justification = "One per preprocessor, for the life of the process; disposing the limiter would only fail decodes still waiting")]
public sealed class DecodeBudget
{
    /// <summary>The limiter counts kilopixels, so any budget fits its int permits.</summary>
    private const long PixelsPerPermit = 1024;
    private readonly ConcurrencyLimiter _limiter;
    private readonly int _permits;
    private long _inUse;
    private long _peak;

    public DecodeBudget(long pixels)
    {
        _permits = (int)Math.Clamp(pixels / PixelsPerPermit, 1, int.MaxValue);
        _limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions
        {
            PermitLimit = _permits, QueueLimit = int.MaxValue, QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        });
    }

    /// <summary>The budget in pixels.</summary>
    public long Pixels => _permits * PixelsPerPermit;

    /// <summary>Whether a decode is waiting for its share right now.</summary>
    public bool HasWaiters => _limiter.GetStatistics()?.CurrentQueuedCount > 0;

    /// <summary>The most pixels in decode at once so far.</summary>
    public long PeakPixels => Interlocked.Read(ref _peak);

    /// <summary>Waits until an image of this size fits, and holds its share until the lease is disposed.</summary>
    public IDisposable Enter(int width, int height)
    {
        var permits = (int)Math.Clamp(((long)width * height + PixelsPerPermit - 1) / PixelsPerPermit, 1, _permits);
        var lease = _limiter.AttemptAcquire(permits);
        if (!lease.IsAcquired)
        {
            lease.Dispose();
            lease = _limiter.AcquireAsync(permits).AsTask().GetAwaiter().GetResult();
        }
        var held = permits * PixelsPerPermit;
        var now = Interlocked.Add(ref _inUse, held);
        for (var peak = Interlocked.Read(ref _peak); now > peak; peak = Interlocked.Read(ref _peak))
            if (Interlocked.CompareExchange(ref _peak, now, peak) == peak) break;
        return new Held(this, lease, held);
    }

    private sealed class Held(DecodeBudget budget, RateLimitLease lease, long pixels) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 1) return;
            Interlocked.Add(ref budget._inUse, -pixels);
            lease.Dispose();
        }
    }
}
