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

/// <summary>A fleet worker refuses to start without an s3:// source allow-list unless the opt-out is set (issue 21, point 1);
/// the refusal comes before the broker is tried, which these tests name as an address nothing listens on.</summary>
public sealed class FleetWorkerAllowListTests
{
    private const string NoBroker = "amqp://guest:guest@127.0.0.1:1/";

    private static async Task<Exception?> PrepareAsync(FleetTransport transport, Dictionary<string, string?> settings)
    {
        settings["IngestFleet:Embedder:ExecutionProvider"] = "cpu";
        settings["IngestFleet:RabbitMq:Uri"] = NoBroker;
        settings["IngestFleet:S3:ServiceUrl"] = "http://127.0.0.1:1";
        var store = Directory.CreateTempSubdirectory("ingestfleet-allowlist-").FullName;
        try
        {
            using var host = await WorkerHostFactory.BuildAsync(new WorkerHostSpec { Transport = transport, Options = settings, LocalStoreDirectory = store },
                CancellationToken.None);
            return await Record.ExceptionAsync(() => transport == FleetTransport.RabbitMq
                ? WorkerStartup.PrepareAsync(host.Services, CancellationToken.None)
                : Task.FromResult(host.Services.GetRequiredService<IngestFleet.Worker.Fetching.SourcePolicyOptions>()));
        }
        finally
        {
            Directory.Delete(store, recursive: true);
        }
    }

    [Fact]
    public async Task WithoutAList_AFleetWorkerIsRefused_NamingTheSettingsThatFixIt()
    {
        var refused = Assert.IsType<OptionsValidationException>(await PrepareAsync(FleetTransport.RabbitMq, []));
        var why = Assert.Single(refused.Failures);
        Assert.Contains("IngestFleet:SourcePolicy:S3Sources:TENANT:N", why, StringComparison.Ordinal);
        Assert.Contains("worker.sourcePolicy.s3Sources", why, StringComparison.Ordinal);
        Assert.Contains("IngestFleet:SourcePolicy:RequireAllowList=false", why, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("IngestFleet:SourcePolicy:S3Sources:acme:0", "catalog/acme/*")] // a list
    [InlineData("IngestFleet:SourcePolicy:Enforce", "true")]                    // no tenant may read s3://
    [InlineData("IngestFleet:SourcePolicy:RequireAllowList", "false")]          // the explicit opt-out
    public async Task WithAListOrTheOptOut_TheWorkerGoesOnToTheBroker(string key, string value)
    {
        var error = await PrepareAsync(FleetTransport.RabbitMq, new() { [key] = value });
        Assert.IsType<FleetUnreachableException>(error); // past the check: the broker was tried
    }

    [Fact]
    public async Task TheEmbeddedMode_ReadsLocalFiles_AndNeedsNoList() => Assert.Null(await PrepareAsync(FleetTransport.InMemory, []));

    [Fact]
    public void TheCliWorker_ExitsWithTheReason()
    {
        var r = IngestFleet.Tests.Cli.CliRunner.Run("worker", "--ep", "cpu", "--broker", NoBroker);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("no s3:// source allow-list", r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", r.Stderr, StringComparison.Ordinal); // a reason, not a stack trace
    }
}
