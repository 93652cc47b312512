using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using IngestFleet.Tests.Cli;
using IngestFleet.Worker.Profiles;

using IngestFleet.Embedding.Inference;

namespace IngestFleet.IntegrationTests;

/// <summary>`ingestfleet tune` writes a profile; a worker started with it consumes with prefetch = the profile's batch ×
/// its batches in flight.</summary>
[Collection(FleetTests.Name)]
public sealed class ProfileIntegrationTests(FleetFixture fixture)
{
    [Fact]
    public async Task Tune_WritesAProfile_ThatAWorkerUses_ItsPrefetchIsTheProfileBatchTimesItsBatchesInFlight()
    {
        using var world = await fixture.NewWorldAsync();
        var outDir = Directory.CreateTempSubdirectory("ingestfleet-tune-it-").FullName;
        var photos = Path.Combine(AppContext.BaseDirectory, "data", "photos");
        var tune = CliRunner.Run("tune", "--threads", "1", "--batches", "3,5", "--seconds", "0.3", "--images", photos, "--out", outDir,
            "--round-trip-ms", "400");
        Assert.True(tune.ExitCode == 0, tune.Stderr + tune.Stdout);
        var path = Path.Combine(outDir, "profile.json");
        var profile = TunedProfile.Load(path);
        Assert.True(profile.Batch is 3 or 5, $"batch {profile.Batch}");
        // The depth is the rule applied to the profile's own recorded cell (the rule itself is unit-tested on fixed inputs);
        // how large it comes out depends on this machine's measured batch time, so no value is asserted here.
        var cell = profile.Measurements.Single(c => c.Batch == profile.Batch);
        Assert.Equal(IngestFleet.Operations.Tuning.TuneSelection.BatchesInFlight(cell.P50Ms, 400), profile.BatchesInFlight);

        await using var worker = await WorkerHost.StartAsync(world, extra: new() { ["IngestFleet:Profile"] = path });
        Assert.Equal(profile.Batch, worker.Services.GetService(typeof(IngestFleet.Messaging.FleetOptions)) is IngestFleet.Messaging.FleetOptions f ? f.BatchSize : -1);

        // What the broker sees: every consumer of the fleet's queues has prefetch = the profile's batch × its depth.
        using var http = new HttpClient { BaseAddress = new Uri(fixture.ManagementUri) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("guest:guest")));
        var prefetches = new List<int>();
        for (var attempt = 0; attempt < 40 && prefetches.Count == 0; attempt++)
        {
            await Task.Delay(500);
            using var doc = JsonDocument.Parse(await http.GetStringAsync(new Uri($"api/queues/%2F/{Uri.EscapeDataString(world.QueuePrefix + "online")}", UriKind.Relative)));
            if (doc.RootElement.TryGetProperty("consumer_details", out var consumers))
                prefetches.AddRange(consumers.EnumerateArray().Select(c => c.GetProperty("prefetch_count").GetInt32()));
        }
        Assert.NotEmpty(prefetches);
        Assert.All(prefetches, p => Assert.Equal(profile.Batch * profile.BatchesInFlight, p));
    }

    [Fact]
    public async Task AProfileTunedForAnotherModel_IsRefusedAtStart()
    {
        using var world = await fixture.NewWorldAsync();
        var path = Path.Combine(Directory.CreateTempSubdirectory("ingestfleet-profile-").FullName, "profile.json");
        await File.WriteAllTextAsync(path, new TunedProfile { ModelRevision = "siglip-tiny-r1", Batch = 4, IntraOpThreads = 1, ExecutionProvider = ExecutionProvider.Cpu }.ToJson());
        var e = await Assert.ThrowsAsync<ProfileException>(() => WorkerHost.StartAsync(world, extra: new() { ["IngestFleet:Profile"] = path }));
        Assert.Contains("tuned for model siglip-tiny-r1; this worker serves clip-tiny-r1", e.Message);
    }
}
