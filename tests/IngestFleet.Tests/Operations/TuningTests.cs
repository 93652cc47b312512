using IngestFleet.Operations.Tuning;
using System.Text.Json;
using IngestFleet.Worker.Profiles;

namespace IngestFleet.Tests.Operations;

public sealed class TuningTests
{
    private static TuneCell Cell(int t, int b, double ips, double p95) => new() { Threads = t, Batch = b, ImagesPerSecond = ips, P95Ms = p95 };

    [Theory]
    [InlineData(152, 0, 2)]    // next to the broker and bucket: one batch decodes while another infers
    [InlineData(152, 80, 6)]   // the latency benchmark's case (clip-tiny, 2 cores, 40 ms each way): 6 in flight measured 0.92
    [InlineData(550, 80, 3)]   // the ViT-B/32-size tower on the same path: its compute covers more of the wait
    [InlineData(152, 1, 2)]
    [InlineData(5, 80, 16)]    // a batch far shorter than the round trip: capped
    public void BatchesInFlight_CoverEightRoundTripsOfWaitPerBatchCompute(double computeMs, double roundTripMs, int expected) =>
        Assert.Equal(expected, TuneSelection.BatchesInFlight(computeMs, roundTripMs));

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
    public void Profile_WithBadFields_IsRefused_NamingFileAndField()
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("ingestfleet-profile-").FullName, "profile.json");
        File.WriteAllText(path, JsonSerializer.Serialize(new { profile_version = 1, model_revision = "clip-tiny-r1", batch = 0, intra_op_threads = 2, inter_op_threads = 1 }));
        var e = Assert.Throws<ProfileException>(() => TunedProfile.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("batch 0", e.Message);
    }
}
