using System.Text.Json;
using IngestFleet.Contracts;
using IngestFleet.Storage;
using IngestFleet.VectorStore;
using IngestFleet.Worker.Consumers;
using IngestFleet.Worker.Processing;
using IngestFleet.Worker.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace IngestFleet.Tests.Worker;

/// <summary>A producer in any language may send JSON nulls: they must become a clear validation problem, never an exception.</summary>
public sealed class NullFieldJobTests
{
    private const string Json = """{"tenant":null,"shard":"s","item_id":"n1","image":null,"priority":null,"model_revision":null}""";

    [Fact]
    public void NullStrings_ReadAsEmpty_AndValidationNamesEachField()
    {
        var job = JsonSerializer.Deserialize<EmbedCatalogImage>(Json)!;
        Assert.Equal(("", "", "", ""), (job.Tenant, job.Image, job.Priority, job.ModelRevision));
        var problems = string.Join(" | ", JobValidator.Validate(job, ["online", "bulk"], allowFileScheme: false));
        Assert.Contains("tenant", problems);
        Assert.Contains("image is required", problems);
        Assert.Contains("priority", problems);
    }

    [Fact]
    public async Task AJobWithNulls_IsDeadLetteredAsInvalidJob_AndTheRestOfTheBatchIsEmbedded()
    {
        var store = Directory.CreateTempSubdirectory("ingestfleet-nulls-").FullName;
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["IngestFleet:Embedder:ExecutionProvider"] = "cpu" });
        builder.AddIngestFleetWorker(FleetTransport.InMemory, TestPaths.Clip, store);
        using var host = builder.Build();
        var processor = host.Services.GetRequiredService<BatchProcessor>();
        var good = new EmbedCatalogImage { Tenant = "t", Shard = "s", ItemId = "ok", Priority = "bulk", Image = new Uri(Path.Combine(TestPaths.Photos, "coffee.jpg")).AbsoluteUri };
        var report = await processor.ProcessAsync([JsonSerializer.Deserialize<EmbedCatalogImage>(Json)!, good], "bulk", CancellationToken.None);
        Assert.Equal((1, 1), (report.Embedded, report.DeadLettered));
        var local = new LocalDirectoryStore(store);
        var keys = new List<string>();
        await foreach (var k in local.ListAsync(StorageKeys.DeadLetterRoot + "/", CancellationToken.None)) keys.Add(k);
        var record = DeadLetterRecord.FromJson((await local.GetAsync(Assert.Single(keys), CancellationToken.None))!);
        Assert.Equal(ReasonCodes.InvalidJob, record.Reason);
        Assert.Contains("tenant", record.Detail);
    }
}
