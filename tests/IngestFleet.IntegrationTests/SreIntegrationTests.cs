using System.Text.Json;
using IngestFleet.Tests.Cli;

namespace IngestFleet.IntegrationTests;

/// <summary>soak and plan against the real broker and S3 server.</summary>
[Collection(FleetTests.Name)]
public sealed class SreIntegrationTests(FleetFixture fixture)
{
    [Fact]
    public async Task ASoakThroughTheRealFleet_CompletesWithAReport()
    {
        using var world = await fixture.NewWorldAsync();
        var outDir = Directory.CreateTempSubdirectory("ingestfleet-soak-fleet-").FullName;
        var curve = Path.Combine(outDir, "curve.csv");
        await File.WriteAllTextAsync(curve, "offset_seconds,online,bulk\n0,1,6\n");
        var r = CliRunner.RunWith(world.Settings(), "soak", "--curve", curve, "--duration", "15s", "--queue-prefix", world.QueuePrefix + "soak-",
            "--images", Path.Combine(AppContext.BaseDirectory, "data", "photos"), "--out", outDir);
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        using var doc = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(outDir, "soak.json")));
        var report = doc.RootElement;
        Assert.Equal("fleet", report.GetProperty("mode").GetString());
        Assert.True(report.GetProperty("completed").GetBoolean());
        var totals = report.GetProperty("totals");
        Assert.True(totals.GetProperty("embedded").GetInt64() > 50);
        Assert.Equal(totals.GetProperty("published").GetInt64(), totals.GetProperty("embedded").GetInt64() + totals.GetProperty("dead_lettered").GetInt64());
        Assert.Contains(report.GetProperty("lifecycle").EnumerateArray(), e => e.GetProperty("event").GetString() == "first_vector");
        // The lifecycle also lives in the bucket, where billing is reconciled from.
        var lifecycleKeys = new List<string>();
        await foreach (var k in world.Store.ListAsync(IngestFleet.Worker.Node.NodeLifecycle.Prefix(report.GetProperty("node").GetProperty("id").GetString()!), CancellationToken.None))
            lifecycleKeys.Add(k);
        Assert.NotEmpty(lifecycleKeys); // the soak process's own lifecycle object
    }

    [Fact]
    public async Task PlanLive_ReadsTheBacklogFromTheBroker()
    {
        using var world = await fixture.NewWorldAsync();
        var catalog = Path.Combine(Directory.CreateTempSubdirectory("ingestfleet-plan-").FullName, "c.jsonl");
        await File.WriteAllLinesAsync(catalog, Enumerable.Range(0, 30).Select(i => $$"""{"item_id":"p{{i}}","image":"s3://{{world.Bucket}}/x.jpg","priority":"bulk"}"""));
        Assert.Equal(0, CliRunner.RunWith(world.Settings(), "publish", catalog).ExitCode);
        var r = CliRunner.RunWith(world.Settings(), "plan", "--live", "--node-rate", "2", "--slo", "10s", "--json");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        Assert.Equal(30, doc.RootElement.GetProperty("backlog").GetInt64());
        Assert.Equal(2, doc.RootElement.GetProperty("nodes").GetInt32()); // ⌈30 ÷ (2 × 10)⌉
    }
}
