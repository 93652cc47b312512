using System.Globalization;
using System.Runtime.InteropServices;

namespace IngestFleet.Embedding.Diagnostics;

/// <summary>The machine's memory as a node check needs it: physical total, available now, and swap in use system-wide.
/// Linux reads /proc/meminfo (MemAvailable); macOS hw.memsize, <see cref="VmStatistics.AvailableBytes"/> (free +
/// inactive + purgeable + speculative, less a wired headroom) and vm.swapusage. -1 where the platform does not tell.
/// Swap in use is shown, never gated on: it stays up after any past pressure. Gates read paging activity
/// (<see cref="PagingCounters"/>).</summary>
public static partial class SystemMemory
{
    public static SystemMemoryReading Read()
    {
        if (OperatingSystem.IsLinux() && File.Exists("/proc/meminfo"))
        {
            var info = File.ReadLines("/proc/meminfo").Select(l => l.Split(':', 2)).Where(p => p.Length == 2)
                .ToDictionary(p => p[0], p => long.Parse(p[1].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024, StringComparer.Ordinal);
            return new SystemMemoryReading(info.GetValueOrDefault("MemTotal", -1), info.GetValueOrDefault("MemAvailable", -1),
                info.TryGetValue("SwapTotal", out var st) && info.TryGetValue("SwapFree", out var sf) ? st - sf : -1);
        }
        if (OperatingSystem.IsMacOS())
        {
            var total = Sysctl64("hw.memsize");
            var available = VmStatistics.ReadMac()?.AvailableBytes ?? -1;
            return new SystemMemoryReading(total, available, ProcessMemory.Swap().UsedBytes); // vm.swapusage is system-wide on macOS
        }
        return new SystemMemoryReading(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes, -1, -1);
    }

    /// <summary>A 64-bit sysctl by name (macOS), -1 when it cannot be read.</summary>
    internal static long Sysctl64(string name)
    {
        long value = 0;
        var size = (nint)sizeof(long);
        return sysctlbyname(name, ref value, ref size, 0, 0) == 0 ? value : -1;
    }

    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int sysctlbyname(string name, ref long oldp, ref nint oldlenp, nint newp, nint newlen);
}
