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

    public static long CurrentRss() => (Linux ? StatmRss() : null) ?? Environment.WorkingSet;

    /// <summary>Resident bytes from /proc/self/statm ("size resident …", in pages), read with a pread at offset 0 on one
    /// handle kept open: no open, close or allocation per sample. Null when it cannot be read.</summary>
    internal static long? StatmRss()
    {
        if (Statm.Value is not { } statm) return null;
        Span<byte> text = stackalloc byte[128];
        int read;
        try
        {
            read = RandomAccess.Read(statm, text, 0);
        }
        catch (IOException)
        {
            return null;
        }
        var fields = text[..read];
        var space = fields.IndexOf((byte)' ');
        if (space <= 0) return null;
        long pages = 0;
        var digits = 0;
        foreach (var b in fields[(space + 1)..])
        {
            if (b is < (byte)'0' or > (byte)'9') break;
            pages = pages * 10 + (b - '0');
            digits++;
        }
        return digits > 0 ? pages * Environment.SystemPageSize : null;
    }

    private static readonly Lazy<Microsoft.Win32.SafeHandles.SafeFileHandle?> Statm = new(() =>
    {
        try
        {
            return File.OpenHandle("/proc/self/statm", FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    });

    /// <summary>
    /// Hands memory the C heap has freed back to the OS (glibc's malloc_trim). Creating an ORT session parses the whole
    /// model file into memory and frees it once the weights are in place, but glibc keeps those pages mapped: a
    /// ViT-B/32-size session held ~200 MiB more after loading than it needed. A no-op off glibc.
    /// </summary>
    public static void ReturnFreedNativeMemory()
    {
        if (!Linux) return;
        try
        {
            _ = malloc_trim(0);
        }
        catch (EntryPointNotFoundException)
        {
            // musl and other C libraries without malloc_trim
        }
        catch (DllNotFoundException)
        {
        }
    }

    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    [LibraryImport("libc")]
    private static partial int malloc_trim(nuint pad);

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
