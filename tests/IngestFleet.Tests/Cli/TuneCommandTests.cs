using IngestFleet.Worker.Profiles;

using IngestFleet.Embedding.Inference;

namespace IngestFleet.Tests.Cli;

public sealed class TuneCommandTests
{
    [Fact]
    public void TuneCommand_WritesAValidProfileAndAPngChart()
    {
        var outDir = Directory.CreateTempSubdirectory("ingestfleet-tune-").FullName;
        var r = CliRunner.Run("tune", "--threads", "2,1", "--batches", "1,4", "--seconds", "0.5", "--images", TestPaths.Photos, "--out", outDir);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.Contains("rule: chosen:", r.Stdout);
        var profile = TunedProfile.Load(Path.Combine(outDir, "profile.json"));
        Assert.Equal("clip-tiny-r1", profile.ModelRevision);
        Assert.Equal(ExecutionProvider.Cpu, profile.ExecutionProvider);
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
}
