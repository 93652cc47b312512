using IngestFleet.Embedding.Diagnostics;

namespace IngestFleet.Tests.Embedding;

/// <summary>Tests that allocate hundreds of MiB and read the process's RSS: they run alone (<see cref="ProcessMemoryTestGroup"/>),
/// so no other test's allocations move the figures.</summary>
[Collection(ProcessMemoryTestGroup.Name)]
public sealed class ProcessMemoryTests
{
    [Fact]
    public void RssSampler_RegistersAKnownAllocation()
    {
        const int size = 256 << 20;
        // Settle the heap first: a collection that the big allocation triggers would otherwise return memory that earlier
        // tests left behind, and the RSS would grow by less than the block.
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        using var peak = RssSampler.Track();
        var before = peak.PeakBytes;
        var block = GC.AllocateUninitializedArray<byte>(size, pinned: true);
        for (var i = 0; i < block.Length; i += 4096) block[i] = 1; // touch every page so it is resident
        peak.Sample();
        Assert.True(peak.PeakBytes - before >= size * 0.9, $"peak grew by {(peak.PeakBytes - before) >> 20} MiB for a {size >> 20} MiB block");
        GC.KeepAlive(block);
        Assert.True(RssSampler.ProcessPeakBytes >= peak.PeakBytes);
    }

    [Fact]
    public void RssSampler_SeesAPeakBetweenExplicitSamples()
    {
        using var peak = RssSampler.Track();
        var before = peak.PeakBytes;
        var t = new Thread(() =>
        {
            var block = GC.AllocateUninitializedArray<byte>(192 << 20, pinned: true);
            for (var i = 0; i < block.Length; i += 4096) block[i] = 1;
            Thread.Sleep(100); // held long enough for the 20 ms background sampler, released before anyone calls Sample
            GC.KeepAlive(block);
        });
        t.Start();
        t.Join();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        Assert.True(peak.PeakBytes - before >= (150L << 20), $"background sampler saw only {(peak.PeakBytes - before) >> 20} MiB");
    }

    [LinuxOnlyFact]
    public void StatmRss_AgreesWithTheKernelsVmRss()
    {
        // The sampler's cheap read (pread on a kept handle, parsed in place) against the kernel's own figure, read the
        // ordinary way straight after it: a wrong field or a broken parse would be far off, not a few pages.
        var fromStatm = ProcessMemory.StatmRss();
        var vmRss = long.Parse(File.ReadAllLines("/proc/self/status").Single(l => l.StartsWith("VmRSS:", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) << 10;
        Assert.NotNull(fromStatm);
        Assert.InRange(fromStatm.Value, vmRss - (8L << 20), vmRss + (8L << 20));
        Assert.True(ProcessMemory.StatmRss() > 0, "the kept handle read nothing the second time");
    }

    [LinuxOnlyFact]
    public void Swap_IsReadPerProcessOnLinux()
    {
        var swap = ProcessMemory.Swap();
        Assert.Equal(("process", true), (swap.Scope, swap.UsedBytes >= 0));
    }
}
