using IngestFleet.Worker.Hosting;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace IngestFleet.Tests.Worker;

/// <summary>What every worker host built by the one factory has, whatever the transport.</summary>
public sealed class WorkerHostFactoryTests
{
    [Theory]
    [InlineData(FleetTransport.RabbitMq)]
    [InlineData(FleetTransport.InMemory)]
    public async Task MassTransitUsageTelemetry_IsOff(FleetTransport transport)
    {
        using var host = await WorkerHostFactory.BuildAsync(new WorkerHostSpec
        {
            Transport = transport,
            LocalStoreDirectory = Directory.CreateTempSubdirectory("ingestfleet-factory-").FullName,
            Options = new Dictionary<string, string?> { ["IngestFleet:Embedder:ExecutionProvider"] = "cpu" },
        }, CancellationToken.None);
        Assert.False(host.Services.GetRequiredService<IOptions<UsageTelemetryOptions>>().Value.Enabled);
    }

    [Fact]
    public async Task TheModel_IsTheOneNamedByConfiguration_AndNothingIsWrittenBack()
    {
        var spec = new WorkerHostSpec
        {
            Transport = FleetTransport.InMemory,
            LocalStoreDirectory = Directory.CreateTempSubdirectory("ingestfleet-factory-").FullName,
            Options = new Dictionary<string, string?> { ["IngestFleet:Model"] = "siglip-tiny-r1", ["IngestFleet:Embedder:ExecutionProvider"] = "cpu" },
        };
        var builder = WorkerHostFactory.CreateBuilder(spec);
        var before = builder.Configuration.AsEnumerable().ToDictionary(kv => kv.Key, kv => kv.Value);
        using var host = await WorkerHostFactory.BuildAsync(builder, spec, CancellationToken.None);
        Assert.Equal("siglip-tiny-r1", host.Services.GetRequiredService<IngestFleet.Embedding.Models.ModelManifest>().Revision);
        var after = builder.Configuration.AsEnumerable().ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.DoesNotContain(after, kv => kv.Key.StartsWith("IngestFleet:ModelBundle", StringComparison.Ordinal));
        Assert.Equal(before.Where(kv => kv.Key.StartsWith("IngestFleet", StringComparison.Ordinal)).OrderBy(kv => kv.Key),
            after.Where(kv => kv.Key.StartsWith("IngestFleet", StringComparison.Ordinal)).OrderBy(kv => kv.Key));
    }

    [Fact]
    public async Task CoreMLsStaticBatch_IsTheBatchThisWorkerRuns()
    {
        using var host = await WorkerHostFactory.BuildAsync(new WorkerHostSpec
        {
            Transport = FleetTransport.InMemory,
            LocalStoreDirectory = Directory.CreateTempSubdirectory("ingestfleet-factory-").FullName,
            Options = new Dictionary<string, string?> { ["IngestFleet:Embedder:ExecutionProvider"] = "cpu", ["IngestFleet:Fleet:BatchSize"] = "24" },
        }, CancellationToken.None);
        Assert.Equal(24, host.Services.GetRequiredService<IngestFleet.Embedding.Inference.EmbedderOptions>().CoreMLBatch);
    }

    [Fact]
    public async Task WithAFileLog_TheConsoleKeepsWarningsAndErrorsOnly()
    {
        var dir = Directory.CreateTempSubdirectory("ingestfleet-filelog-").FullName;
        using var host = await WorkerHostFactory.BuildAsync(new WorkerHostSpec
        {
            Transport = FleetTransport.InMemory, LocalStoreDirectory = dir,
            Options = new Dictionary<string, string?> { ["IngestFleet:Embedder:ExecutionProvider"] = "cpu", ["IngestFleet:Logging:File"] = Path.Combine(dir, "worker.log") },
        }, CancellationToken.None);
        var rules = host.Services.GetRequiredService<IOptions<Microsoft.Extensions.Logging.LoggerFilterOptions>>().Value.Rules;
        Assert.Contains(rules, r => r.ProviderName == typeof(Microsoft.Extensions.Logging.Console.ConsoleLoggerProvider).FullName
                                    && r.CategoryName is null && r.LogLevel == Microsoft.Extensions.Logging.LogLevel.Warning);
    }
}
