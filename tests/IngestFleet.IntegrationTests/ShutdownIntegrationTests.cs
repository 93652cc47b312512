using IngestFleet.Contracts;
using IngestFleet.Storage;
using IngestFleet.VectorStore;
using IngestFleet.Messaging.Broker;
using IngestFleet.Messaging.Publishing;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace IngestFleet.IntegrationTests;

[Collection(FleetTests.Name)]
public sealed class ShutdownIntegrationTests(FleetFixture fixture)
{
    [Fact]
    public async Task StoppingAWorkerMidRun_PutsNothingInError_AndAnotherWorkerFinishesTheRest()
    {
        using var world = await fixture.NewWorldAsync();
        var photos = Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "data", "photos"), "catalog-*.jpg");
        for (var i = 0; i < photos.Length; i++)
            await world.Store.PutAsync($"img/{i}.jpg", await File.ReadAllBytesAsync(photos[i]), "image/jpeg", CancellationToken.None);
        var jobs = Enumerable.Range(0, 96).Select(i => new EmbedCatalogImage
        {
            Tenant = "t", Shard = $"s{i % 3}", ItemId = $"item-{i}", Image = $"s3://{world.Bucket}/img/{i % photos.Length}.jpg", Priority = "bulk",
        }).ToArray();

        var first = await WorkerHost.StartAsync(world, batch: 8);
        var publisher = (JobPublisher)first.Services.GetService(typeof(JobPublisher))!;
        Assert.Empty((await publisher.PublishAsync(jobs, null, CancellationToken.None)).Failed);
        await first.WaitForItemsAsync(16, TimeSpan.FromMinutes(1));
        var ledger = first.Ledger;
        await first.DisposeAsync(); // graceful stop while batches are in flight and more are queued
        var doneByFirst = ledger.Items;
        Assert.InRange(doneByFirst, 16, 95);

        var factory = new ConnectionFactory { Uri = new Uri(fixture.RabbitUri) };
        await using (var connection = await factory.CreateConnectionAsync())
            foreach (var priority in new[] { "online", "high", "normal", "bulk" })
            {
                await using var channel = await connection.CreateChannelAsync();
                var e = await Assert.ThrowsAsync<OperationInterruptedException>(() => channel.QueueDeclarePassiveAsync($"{world.QueuePrefix}{priority}_error"));
                Assert.Equal((ushort)404, e.ShutdownReason!.ReplyCode);
            }

        await using var second = await WorkerHost.StartAsync(world, batch: 8);
        var deadline = DateTime.UtcNow.AddMinutes(2);
        int vectors;
        do
        {
            await Task.Delay(250);
            vectors = (await VectorView.ItemsAsync(world.Store)).Count;
        }
        while (vectors < 96 && DateTime.UtcNow < deadline);
        Assert.Equal(96, vectors);
        Assert.Equal(96, doneByFirst + second.Ledger.Items - second.Ledger.AlreadyPresent);
    }
}

[Collection(FleetTests.Name)]
public sealed class HealthIntegrationTests(FleetFixture fixture)
{
    [Fact]
    public async Task Healthz_ReportsBrokerStoreAndModel()
    {
        using var world = await fixture.NewWorldAsync();
        var port = FreePort();
        await using var worker = await WorkerHost.StartAsync(world, extra: new() { ["IngestFleet:Health:Port"] = port.ToString() });
        using var http = new HttpClient();
        HttpResponseMessage? response = null;
        for (var i = 0; i < 40 && response is null; i++)
        {
            try { response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/healthz")); }
            catch (HttpRequestException) { await Task.Delay(250); }
        }
        Assert.NotNull(response);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == System.Net.HttpStatusCode.OK, body);
        using var doc = System.Text.Json.JsonDocument.Parse(body);
        var checks = doc.RootElement.GetProperty("checks");
        Assert.Equal("Healthy", checks.GetProperty("model").GetProperty("status").GetString());
        Assert.Contains("clip-tiny-r1", checks.GetProperty("model").GetProperty("description").GetString());
        Assert.Equal("Healthy", checks.GetProperty("store").GetProperty("status").GetString());
        Assert.Contains(checks.EnumerateObject(), c => c.Name.Contains("masstransit", StringComparison.OrdinalIgnoreCase) && c.Value.GetProperty("status").GetString() == "Healthy");
    }

    private static int FreePort() => IngestFleet.Tests.TestPorts.Free();
}
