using System.Text.Json;
using IngestFleet.Embedding.Diagnostics;
using IngestFleet.Tests.Cli;
using IngestFleet.Worker.Tuning;

namespace IngestFleet.Tests.Worker;

public sealed class TuningTests
{
    private static TuneCell Cell(int t, int b, double ips, double p95) => new() { Threads = t, Batch = b, ImagesPerSecond = ips, P95Ms = p95 };

    [Fact]
    public void Rule_WalksThreadsDown_WhileP95ImprovesAndThroughputStaysWithinTolerance()
    {
        var cells = new[]
        {
            Cell(8, 16, 100, 200), Cell(8, 32, 104, 400),
            Cell(4, 16, 98, 150), Cell(4, 32, 99, 300),   // 99 >= 0.95 × 104 and p95 300 < 400: step down
            Cell(2, 16, 60, 120), Cell(2, 32, 70, 250),   // p95 better but throughput 70 < 0.95 × 99: stop at 4
            Cell(1, 16, 40, 100), Cell(1, 32, 41, 200),
        };
        var choice = TuneSelection.Choose(cells, performanceCores: 8, tolerance: 0.05, p95BudgetMs: null);
        Assert.Equal((4, 32), (choice.Cell.Threads, choice.Cell.Batch));
        Assert.Contains(choice.Steps, s => s.Contains("loses more than 5", StringComparison.Ordinal));
    }

    [Fact]
    public void Rule_StartsAtThePerformanceCoreCount_AndHonoursTheLatencyBudget()
    {
        var cells = new[] { Cell(8, 8, 120, 90), Cell(8, 32, 150, 400), Cell(4, 8, 100, 80), Cell(4, 32, 130, 350) };
        // 4 performance cores: 8 threads is never the start. Budget 100 ms rules out batch 32.
        var choice = TuneSelection.Choose(cells, performanceCores: 4, tolerance: 0.05, p95BudgetMs: 100);
        Assert.Equal((4, 8), (choice.Cell.Threads, choice.Cell.Batch));
        Assert.Contains(choice.Steps, s => s.StartsWith("start at 4 threads", StringComparison.Ordinal));
    }

    [Fact]
    public void Rule_StaysPut_WhenFewerThreadsDoNotImproveP95()
    {
        var cells = new[] { Cell(2, 16, 30, 500), Cell(1, 16, 29.5, 520) };
        var choice = TuneSelection.Choose(cells, 2, 0.05, null);
        Assert.Equal(2, choice.Cell.Threads);
        Assert.Contains(choice.Steps, s => s.Contains("does not improve p95", StringComparison.Ordinal));
    }

    [Fact]
    public void Rule_WithNoBatchMeetingTheBudget_TakesTheLowestP95()
    {
        var choice = TuneSelection.Choose([Cell(2, 1, 10, 60), Cell(2, 8, 30, 200)], 2, 0.05, p95BudgetMs: 20);
        Assert.Equal(1, choice.Cell.Batch);
    }

    [Fact]
    public void RssSampler_RegistersAKnownAllocation()
    {
        const int size = 256 << 20;
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
            Thread.Sleep(100); // held long enough for the 5 ms background sampler, released before anyone calls Sample
            GC.KeepAlive(block);
        });
        t.Start();
        t.Join();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        Assert.True(peak.PeakBytes - before >= (150L << 20), $"background sampler saw only {(peak.PeakBytes - before) >> 20} MiB");
    }

    [Fact]
    public void Swap_IsReadOnLinux()
    {
        var swap = ProcessMemory.Swap();
        if (OperatingSystem.IsLinux()) Assert.Equal(("process", true), (swap.Scope, swap.UsedBytes >= 0));
    }

    [Fact]
    public void TuneCommand_WritesAValidProfileAndAPngChart()
    {
        var outDir = Directory.CreateTempSubdirectory("ingestfleet-tune-").FullName;
        var r = CliRunner.Run("tune", "--threads", "2,1", "--batches", "1,4", "--seconds", "0.5", "--images", TestPaths.Photos, "--out", outDir);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.Contains("rule: chosen:", r.Stdout);
        var profile = TunedProfile.Load(Path.Combine(outDir, "profile.json"));
        Assert.Equal("clip-tiny-r1", profile.ModelRevision);
        Assert.Equal("cpu", profile.ExecutionProvider);
        Assert.Equal(4, profile.Measurements.Count);
        Assert.Contains(profile.Measurements, c => c.Threads == profile.IntraOpThreads && c.Batch == profile.Batch);
        Assert.All(profile.Measurements, c => Assert.True(c.ImagesPerSecond > 0 && c.P95Ms >= c.P50Ms && c.P99Ms >= c.P95Ms && c.PeakRssBytes > 0 && c.BatchesRun >= 3));
        Assert.Equal(Environment.ProcessorCount, profile.Machine.LogicalCores);
        var png = File.ReadAllBytes(Path.Combine(outDir, "chart.png"));
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, png[..4]);
        Assert.True(png.Length > 10_000);
    }

    [Fact]
    public void TuneCommand_BadListsAndMissingImages_NameTheFix()
    {
        var bad = CliRunner.Run("tune", "--threads", "2,x", "--images", TestPaths.Photos);
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("'x' is not a whole number", bad.Stderr);
        var none = CliRunner.Run("tune", "--images", Path.Combine(TestPaths.Data, "no-such-folder"));
        Assert.Contains("no such folder", none.Stderr);
    }

    [Fact]
    public void Profile_WithBadFields_IsRefused_NamingFileAndField()
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("ingestfleet-profile-").FullName, "profile.json");
        File.WriteAllText(path, JsonSerializer.Serialize(new { profile_version = 1, model_revision = "clip-tiny-r1", batch = 0, intra_op_threads = 2, inter_op_threads = 1 }));
        var e = Assert.Throws<ProfileException>(() => TunedProfile.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("batch 0", e.Message);
    }
}
