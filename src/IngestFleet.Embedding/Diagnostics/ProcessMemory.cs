using System.Globalization;
using System.Runtime.InteropServices;

namespace IngestFleet.Embedding.Diagnostics;

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

    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int sysctlbyname(string name, ref XswUsage oldp, ref nint oldlenp, nint newp, nint newlen);
}
