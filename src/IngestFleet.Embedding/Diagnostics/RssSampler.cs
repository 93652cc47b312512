namespace IngestFleet.Embedding.Diagnostics;

/// <summary>
/// One background thread samples RSS every <see cref="IntervalMs"/> ms while at least one <see cref="RssPeak"/> is
/// open (it parks otherwise), so a peak inside a long ONNX Runtime call is seen, not only the values at step boundaries.
/// It also keeps the process-wide peak since start.
/// </summary>
public static class RssSampler
{
    public const int IntervalMs = 20;

    private static readonly List<RssPeak> Open = [];
    private static readonly SemaphoreSlim Wake = new(0);
    private static long _processPeak;
    private static Thread? _thread;

    /// <summary>Highest RSS seen by any sample in this process.</summary>
    public static long ProcessPeakBytes => Math.Max(Interlocked.Read(ref _processPeak), ProcessMemory.CurrentRss());

    /// <summary>Starts the sampler thread now (from a normal-priority thread: Linux threads inherit their creator's nice value).</summary>
    public static void EnsureStarted()
    {
        lock (Open)
        {
            if (_thread is not null) return;
            _thread = new Thread(Loop) { IsBackground = true, Name = "ingestfleet-rss-sampler", Priority = ThreadPriority.AboveNormal };
            _thread.Start();
        }
    }

    public static RssPeak Track()
    {
        EnsureStarted();
        var peak = new RssPeak();
        lock (Open)
        {
            Open.Add(peak);
            if (Open.Count == 1) Wake.Release();
        }
        Note(peak.PeakBytes);
        return peak;
    }

    internal static void Stop(RssPeak peak)
    {
        Note(peak.PeakBytes);
        lock (Open) Open.Remove(peak);
    }

    private static void Note(long rss) => RssPeak.InterlockedMax(ref _processPeak, rss);

    private static void Loop()
    {
        while (true)
        {
            RssPeak[] open;
            lock (Open) open = Open.ToArray();
            if (open.Length == 0)
            {
                Wake.Wait();
                continue;
            }
            var rss = ProcessMemory.CurrentRss();
            foreach (var p in open) p.Offer(rss);
            Note(rss);
            Thread.Sleep(IntervalMs);
        }
    }
}
