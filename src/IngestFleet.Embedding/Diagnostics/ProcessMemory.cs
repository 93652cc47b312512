using System.Globalization;
using System.Runtime.InteropServices;

namespace IngestFleet.Embedding.Diagnostics;

/// <summary>
/// Resident set size and swap, read cheaply enough to sample every few milliseconds: Linux reads /proc/self/statm
/// (resident pages, one pread on a kept handle) and /proc/self/status (VmSwap); macOS asks the kernel for the task's
/// physical footprint (task_info TASK_VM_INFO, what Activity Monitor shows as Memory) and sysctl vm.swapusage;
/// elsewhere the runtime's working set, and swap is unknown (-1). Environment.WorkingSet is not used on macOS: it
/// enumerates every thread of the process on each call.
/// </summary>
public static partial class ProcessMemory
{
    private static readonly bool Linux = OperatingSystem.IsLinux() && File.Exists("/proc/self/statm");

    private static readonly bool Mac = OperatingSystem.IsMacOS();

    public static long CurrentRss() => (Linux ? StatmRss() : Mac ? PhysFootprint() : null) ?? Environment.WorkingSet;

    /// <summary>macOS: the task's phys_footprint from task_info(mach_task_self(), TASK_VM_INFO) (xnu osfmk/mach/task_info.h:
    /// flavor 22 at :363; phys_footprint at byte 144 of struct task_vm_info, :365-388, #pragma pack(4) at :91;
    /// TASK_VM_INFO_REV1_COUNT 38 natural_t at :448-449). Null when the call fails.</summary>
    internal static long? PhysFootprint()
    {
        Span<int> info = stackalloc int[TaskVmInfoCount];
        var count = (uint)TaskVmInfoCount;
        if (task_info(mach_task_self(), TaskVmInfo, ref MemoryMarshal.GetReference(info), ref count) != 0 || count < TaskVmInfoRev1Count) return null;
        return PhysFootprintFrom(MemoryMarshal.AsBytes(info));
    }

    /// <summary>phys_footprint out of a task_vm_info buffer (little-endian, as on arm64 and x86-64).</summary>
    internal static long PhysFootprintFrom(ReadOnlySpan<byte> taskVmInfo) =>
        (long)System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(taskVmInfo[PhysFootprintOffset..]);

    internal const int PhysFootprintOffset = 144;
    private const int TaskVmInfo = 22;
    private const int TaskVmInfoRev1Count = 38;
    private const int TaskVmInfoCount = 93; // the whole struct (task_info.h:432-433); older kernels fill fewer and say so in count

    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    [LibraryImport("libc")]
    private static partial uint mach_task_self();

    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    [LibraryImport("libc")]
    private static partial int task_info(uint task, int flavor, ref int info, ref uint count);

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
