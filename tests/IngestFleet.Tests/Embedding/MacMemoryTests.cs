using System.Buffers.Binary;
using IngestFleet.Embedding.Diagnostics;
using IngestFleet.Operations.Acceptance;
using IngestFleet.Worker.Node;

namespace IngestFleet.Tests.Embedding;

/// <summary>
/// Memory as macOS counts it, tested on recorded outputs of real Apple Silicon Macs (tests/data/macos, verbatim from
/// public threads) and on buffers laid out as the kernel fills them (xnu osfmk/mach/vm_statistics.h:137-170,
/// task_info.h:365-388): available memory, paging activity rather than the swap level, and the task's footprint.
/// </summary>
public sealed class MacMemoryTests
{
    private static string Recorded(string name) => File.ReadAllText(Path.Combine(TestPaths.Data, "macos", name));

    [Fact]
    public void VmStat_FromAnM1_ParsesEveryCounterTheGatesUse()
    {
        var s = VmStatistics.ParseVmStat(Recorded("vm_stat-m1-ollama-7255.txt"));
        Assert.Equal(16384, s.PageSize);
        Assert.Equal((355378L, 222569L, 166967L, 56413L, 143109L, 3946L), (s.Free, s.Active, s.Inactive, s.Speculative, s.Wired, s.Purgeable));
        Assert.Equal((18811038L, 1571431L, 729059L, 6987980L), (s.Pageins, s.Pageouts, s.Swapins, s.Swapouts));
    }

    [Fact]
    public void AvailableMemory_IsFreeInactivePurgeableAndSpeculative_LessAWiredHeadroom()
    {
        var s = VmStatistics.ParseVmStat(Recorded("vm_stat-watchhttp-readme.txt"));
        var pages = 1616097L + 579357 + 125376 + 829846 - (long)(164337 * VmStatistics.WiredHeadroomFraction);
        Assert.Equal(pages * 16384, s.AvailableBytes);
        Assert.InRange(s.AvailableBytes / (1024.0 * 1024 * 1024), 45, 50); // ~47 GiB of a 64 GB machine: far more than free pages alone (24.7 GiB)
        Assert.True(s.AvailableBytes > s.Free * s.PageSize * 1.5);
    }

    [Fact]
    public void TheKernelsBuffer_ReadsAsVmStatPrintsIt()
    {
        var printed = VmStatistics.ParseVmStat(Recorded("vm_stat-m1-ollama-7255.txt"));
        var buffer = new byte[152];
        void U32(int at, long v) => BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(at), (uint)v);
        void U64(int at, long v) => BinaryPrimitives.WriteUInt64LittleEndian(buffer.AsSpan(at), (ulong)v);
        U32(0, printed.Free + printed.Speculative); // the kernel's free_count includes speculative pages (xnu host.c:799)
        U32(4, printed.Active); U32(8, printed.Inactive); U32(12, printed.Wired);
        U64(32, printed.Pageins); U64(40, printed.Pageouts); U32(88, printed.Purgeable); U32(92, printed.Speculative);
        U64(112, printed.Swapins); U64(120, printed.Swapouts);
        Assert.Equal(printed, VmStatistics.FromHostStatistics(buffer, 16384));
    }

    [Fact]
    public void PagingActivity_IsTheDifferenceOfTwoReadings_NotTheLevel()
    {
        // Two readings of the same counters (the second taken after 1,000 more pages were swapped out).
        var before = PagingCounters.FromVmStatistics(VmStatistics.ParseVmStat(Recorded("vm_stat-m1-ollama-7255.txt")));
        var after = before with { SwappedOutBytes = before.SwappedOutBytes + 1000 * 16384L };
        Assert.Equal(6987980L * 16384, before.SwappedOutBytes); // 107 GiB swapped out since boot: history, not pressure now
        Assert.Equal(1000 * 16384L, after.Since(before).SwappedOutBytes);
        Assert.Equal(0, before.Since(before).SwappedOutBytes);

        var linux = PagingCounters.ParseProcVmstat("nr_free_pages 1234\npgpgin 5000\npgpgout 7000\npswpin 10\npswpout 20\n", 4096);
        Assert.Equal(new PagingCounters(20 * 4096, 10 * 4096, 7000 * 1024), linux);
        Assert.NotNull(PagingCounters.Read()); // this Linux machine's /proc/vmstat
    }

    [Fact]
    public void TheDoctor_FailsANodeThatSwapsOutNow_NotOneThatSwappedOnceLongAgo()
    {
        var idle = NodeDoctor.PagingVerdict(new PagingCounters(0, 0, 4096), TimeSpan.FromSeconds(2), "3072 MiB of swap in use");
        Assert.True(idle.Ok); // a high level alone does not fail the node
        var swapping = NodeDoctor.PagingVerdict(new PagingCounters(64 * 16384, 0, 0), TimeSpan.FromSeconds(2), "0 MiB of swap in use");
        Assert.False(swapping.Ok);
        Assert.Contains("swapped out 1024 KiB in 2 s", swapping.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void TheSoakVerdict_FailsOnlySustainedSwapOuts()
    {
        SoakSample[] Samples(params long[] mib) => mib.Select((v, i) => new SoakSample(i * 2.0, v << 20)).ToArray();
        var threshold = SoakReportBuilder.SwapThresholdBytes;
        Assert.False(SoakReportBuilder.Sustained(Samples(0, 0, 0, 0, 0, 0), threshold, 6).Sustained);
        Assert.False(SoakReportBuilder.Sustained(Samples(0, 40, 0, 30, 0, 0), threshold, 6).Sustained); // blips
        Assert.True(SoakReportBuilder.Sustained(Samples(0, 8, 9, 7, 12, 0), threshold, 6).Sustained);  // 6 s of swap-outs in a row
    }

    [Fact]
    public void TheTasksFootprint_IsReadAtItsOffsetInTaskVmInfo()
    {
        var info = new byte[38 * 4];
        BinaryPrimitives.WriteUInt64LittleEndian(info.AsSpan(16), 111); // resident_size: not what is reported
        BinaryPrimitives.WriteUInt64LittleEndian(info.AsSpan(144), 734_003_200); // phys_footprint, 700 MiB
        Assert.Equal(734_003_200, ProcessMemory.PhysFootprintFrom(info));
    }
}
