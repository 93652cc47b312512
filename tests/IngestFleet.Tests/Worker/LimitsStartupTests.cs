namespace IngestFleet.Tests.Worker;

/// <summary>The worker host refuses inconsistent published limits at start-up.</summary>
public sealed class LimitsStartupTests
{
    [Fact]
    public async Task AWorker_WithInconsistentLimits_RefusesToStart_NamingTheKey()
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        Microsoft.Extensions.Configuration.MemoryConfigurationBuilderExtensions.AddInMemoryCollection(builder.Configuration, new Dictionary<string, string?>
        {
            ["IngestFleet:Limits:Queues:online:ShedRank"] = "5",
            ["IngestFleet:Embedder:ExecutionProvider"] = "cpu",
        });
        IngestFleet.Worker.Hosting.WorkerHosting.AddIngestFleetWorker(builder, IngestFleet.Worker.Hosting.FleetTransport.InMemory, TestPaths.Clip,
            Directory.CreateTempSubdirectory("ingestfleet-limits-").FullName);
        using var host = builder.Build();
        var e = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("IngestFleet:Limits:Queues:online:ShedRank 5 would shed online before the less urgent", e.Message);
    }
}
