using System.Globalization;
using System.Runtime.InteropServices;

namespace IngestFleet.Embedding.Diagnostics;

/// <summary>Swap as this platform reports it: per process on Linux (VmSwap), system-wide on macOS (vm.swapusage).</summary>
public readonly record struct SwapReading(long UsedBytes, string Scope)
{
    public bool Swapping => UsedBytes > 0;
}

/// <summary>
/// Resident set size and swap, read cheaply enough to sample every few milliseconds: Linux reads /proc/self/statm
/// (resident pages) and /proc/self/status (VmSwap); macOS uses the runtime's working set (task RSS) and
/// sysctl vm.swapusage; elsewhere the working set, and swap is unknown (-1).
/// </summary>
public static partial class ProcessMemory
{
    private static readonly bool Linux = OperatingSystem.IsLinux() && File.Exists("/proc/self/statm");

    public static long CurrentRss()
    {
        if (Linux)
        {
            try
            {
                var statm = File.ReadAllText("/proc/self/statm");
                var parts = statm.Split(' ', 3);
                return long.Parse(parts[1], CultureInfo.InvariantCulture) * Environment.SystemPageSize;
            }
            catch (IOException)
            {
                // fall through
            }
        }
        return Environment.WorkingSet;
    }

    public static SwapReading Swap()
    {
        if (Linux)
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmSwap:", StringComparison.Ordinal))
                    return new SwapReading(long.Parse(line[7..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024, "process");
            return new SwapReading(0, "process");
        }
        if (OperatingSystem.IsMacOS())
        {
            var usage = default(XswUsage);
            var size = (nint)Marshal.SizeOf<XswUsage>();
            return sysctlbyname("vm.swapusage", ref usage, ref size, 0, 0) == 0
                ? new SwapReading((long)usage.Used, "system")
                : new SwapReading(-1, "unknown");
        }
        return new SwapReading(-1, "unknown");
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct XswUsage
    {
        public ulong Total;
        public ulong Avail;
        public ulong Used;
        public uint PageSize;
        public int Encrypted;
    }

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int sysctlbyname(string name, ref XswUsage oldp, ref nint oldlenp, nint newp, nint newlen);
}

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

/// <summary>
/// One background thread samples RSS every <see cref="IntervalMs"/> ms while at least one <see cref="RssPeak"/> is
/// open (it parks otherwise), so a peak inside a long ONNX Runtime call is seen, not only the values at step boundaries.
/// It also keeps the process-wide peak since start.
/// </summary>
public static class RssSampler
{
    public const int IntervalMs = 5;

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
