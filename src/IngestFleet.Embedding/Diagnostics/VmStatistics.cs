using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace IngestFleet.Embedding.Diagnostics;

/// <summary>
/// macOS's virtual-memory counters (the kernel's <c>vm_statistics64</c>, what <c>vm_stat</c> prints), in pages.
/// <see cref="Free"/> excludes speculative pages, as vm_stat prints it (the kernel's free_count includes them: xnu
/// osfmk/kern/host.c:799; vm_stat subtracts them: system_cmds vm_stat/vm_stat.c:131).
/// </summary>
public sealed partial record VmStatistics(long PageSize, long Free, long Active, long Inactive, long Speculative, long Wired, long Purgeable,
    long Pageins, long Pageouts, long Swapins, long Swapouts)
{
    /// <summary>The share of wired memory kept back as headroom when counting what is available: wired pages (the
    /// kernel, and Core ML models loaded on the GPU or Neural Engine) grow when a model loads, and cannot be reclaimed.</summary>
    public const double WiredHeadroomFraction = 0.25;

    /// <summary>Memory available without paging, as macOS counts it: free + inactive + purgeable + speculative pages,
    /// less <see cref="WiredHeadroomFraction"/> of the wired pages. Never negative.</summary>
    public long AvailableBytes => Math.Max(0, (Free + Inactive + Purgeable + Speculative - (long)(Wired * WiredHeadroomFraction)) * PageSize);

    /// <summary>Parses <c>vm_stat</c>'s output (labels from system_cmds vm_stat/vm_stat.c:131-152, "%-30s %16llu."
    /// at :158; the header line gives the page size at :129). Column widths are not relied on: newer releases widen them.</summary>
    public static VmStatistics ParseVmStat(string text)
    {
        var header = PageSizeLine().Match(text);
        if (!header.Success) throw new FormatException("not vm_stat output: no \"Mach Virtual Memory Statistics: (page size of N bytes)\" line");
        var values = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (Match m in CounterLine().Matches(text))
            values[m.Groups["label"].Value.Trim().Trim('"')] = long.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture);
        long Get(string label) => values.TryGetValue(label, out var v) ? v : throw new FormatException($"vm_stat output has no \"{label}:\" line");
        return new VmStatistics(long.Parse(header.Groups["size"].Value, CultureInfo.InvariantCulture), Get("Pages free"), Get("Pages active"),
            Get("Pages inactive"), Get("Pages speculative"), Get("Pages wired down"), Get("Pages purgeable"), Get("Pageins"), Get("Pageouts"),
            Get("Swapins"), Get("Swapouts"));
    }

    /// <summary>
    /// Reads the kernel's <c>struct vm_statistics64</c> as <c>host_statistics64(HOST_VM_INFO64)</c> fills it. Layout
    /// (xnu osfmk/mach/vm_statistics.h:137-170; natural_t is 4 bytes, the counters 8): free_count 0, active_count 4,
    /// inactive_count 8, wire_count 12, zero_fill_count 16, reactivations 24, pageins 32, pageouts 40, faults 48,
    /// cow_faults 56, lookups 64, hits 72, purges 80, purgeable_count 88, speculative_count 92, decompressions 96,
    /// compressions 104, swapins 112, swapouts 120; 152 bytes in rev1 (HOST_VM_INFO64_COUNT 38, host_info.h:243-248).
    /// </summary>
    public static VmStatistics FromHostStatistics(ReadOnlySpan<byte> info, long pageSize)
    {
        if (info.Length < 128) throw new ArgumentException($"vm_statistics64 needs at least 128 bytes, got {info.Length}", nameof(info));
        var speculative = U32(info, 92);
        return new VmStatistics(pageSize, U32(info, 0) - (long)speculative, U32(info, 4), U32(info, 8), speculative, U32(info, 12), U32(info, 88),
            U64(info, 32), U64(info, 40), U64(info, 112), U64(info, 120));
    }

    private static uint U32(ReadOnlySpan<byte> info, int offset) => BinaryPrimitives.ReadUInt32LittleEndian(info[offset..]);

    private static long U64(ReadOnlySpan<byte> info, int offset) => (long)BinaryPrimitives.ReadUInt64LittleEndian(info[offset..]);

    /// <summary>The live counters on macOS (null elsewhere, or when the call fails).</summary>
    public static VmStatistics? ReadMac()
    {
        if (!OperatingSystem.IsMacOS()) return null;
        // A buffer larger than rev1: newer kernels append fields and refuse a count that is too small.
        Span<int> buffer = stackalloc int[64];
        var count = (uint)buffer.Length;
        if (host_statistics64(mach_host_self(), HostVmInfo64, ref MemoryMarshal.GetReference(buffer), ref count) != 0 || count < 32) return null;
        var pageSize = SystemMemory.Sysctl64("hw.pagesize");
        if (pageSize <= 0) return null;
        return FromHostStatistics(MemoryMarshal.AsBytes(buffer[..(int)count]), pageSize);
    }

    private const int HostVmInfo64 = 4; // osfmk/mach/host_info.h:196

    [GeneratedRegex(@"Mach Virtual Memory Statistics: \(page size of (?<size>\d+) bytes\)")]
    private static partial Regex PageSizeLine();

    [GeneratedRegex(@"^(?<label>[^:\n]+):\s+(?<value>\d+)\.\s*$", RegexOptions.Multiline)]
    private static partial Regex CounterLine();

    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    [LibraryImport("libc")]
    private static partial uint mach_host_self();

    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    [LibraryImport("libc")]
    private static partial int host_statistics64(uint host, int flavor, ref int info, ref uint count);
}

/// <summary>The kernel's cumulative paging counters, in bytes: what was swapped out and in, and paged out, since boot.
/// Paging activity is the difference of two readings; the amount of swap in use is not (it stays up long after any
/// pressure is gone).</summary>
public readonly record struct PagingCounters(long SwappedOutBytes, long SwappedInBytes, long PagedOutBytes)
{
    /// <summary>Linux: /proc/vmstat (pswpout and pswpin in pages, pgpgout in KiB); macOS: vm_statistics64 (swapouts,
    /// swapins, pageouts in pages). Null where neither is readable.</summary>
    public static PagingCounters? Read()
    {
        if (OperatingSystem.IsLinux() && File.Exists("/proc/vmstat"))
            return ParseProcVmstat(File.ReadAllText("/proc/vmstat"), Environment.SystemPageSize);
        return VmStatistics.ReadMac() is { } mac ? FromVmStatistics(mac) : null;
    }

    public static PagingCounters FromVmStatistics(VmStatistics s) => new(s.Swapouts * s.PageSize, s.Swapins * s.PageSize, s.Pageouts * s.PageSize);

    public static PagingCounters ParseProcVmstat(string text, long pageSize)
    {
        var values = text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ', 2)).Where(p => p.Length == 2)
            .ToDictionary(p => p[0], p => long.TryParse(p[1].Trim(), CultureInfo.InvariantCulture, out var v) ? v : 0, StringComparer.Ordinal);
        return new PagingCounters(values.GetValueOrDefault("pswpout") * pageSize, values.GetValueOrDefault("pswpin") * pageSize,
            values.GetValueOrDefault("pgpgout") * 1024);
    }

    /// <summary>What happened between an earlier reading and this one.</summary>
    public PagingCounters Since(PagingCounters before) => new(
        Math.Max(0, SwappedOutBytes - before.SwappedOutBytes), Math.Max(0, SwappedInBytes - before.SwappedInBytes),
        Math.Max(0, PagedOutBytes - before.PagedOutBytes));
}
