using System.Net.Http.Headers;
using System.Net.Http.Json;
using IngestFleet.Contracts;
using IngestFleet.Messaging.Publishing;
using IngestFleet.Storage;
using IngestFleet.Tests.Cli;
using IngestFleet.Tests.Worker;
using IngestFleet.Worker.Processing;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace IngestFleet.IntegrationTests;

/// <summary>
/// One tenant against another on the real broker, gateway, worker and S3 server (issue 21, point 10): what a hostile
/// tenant tries and what it gets, while the other tenant's work goes through.
/// </summary>
[Collection(FleetTests.Name)]
public sealed class HostileTenantTests(FleetFixture fixture)
{
    private static readonly string Photo = Path.Combine(AppContext.BaseDirectory, "data", "photos", "astronaut.jpg");

    private static async Task<string> UploadPhotoAsync(FleetWorld world, string key = "images/astronaut.jpg")
    {
        await world.Store.PutAsync(key, await File.ReadAllBytesAsync(Photo), "image/jpeg", CancellationToken.None);
        return $"s3://{world.Bucket}/{key}";
    }

    private static async Task<List<string>> KeysAsync(FleetWorld world, string prefix)
    {
        var keys = new List<string>();
        await foreach (var k in world.Store.ListAsync(prefix, CancellationToken.None)) keys.Add(k);
        return keys;
    }

    private static byte[] Job(string tenant, string item, string image) =>
        JobJson.Serialize(new EmbedCatalogImage { Tenant = tenant, Shard = "s1", ItemId = item, Image = image, Priority = "online" });

    [Fact]
    public async Task AnotherBrokerUsersJobForTenantA_IsDeadLetteredApart_AndStaysRefusedThroughReplay()
    {
        using var world = await fixture.NewWorldAsync();
        var image = await UploadPhotoAsync(world);
        await using var producerB = await BrokerUser.CreateAsync(fixture);
        var extra = new Dictionary<string, string?> { [$"IngestFleet:PublisherIdentity:Tenants:{producerB.Name}:0"] = "tenant-b" };
        await using var worker = await WorkerHost.StartAsync(world, batch: 4, extra: extra);
        var queue = world.QueuePrefix + "online";

        await using (var connection = await new ConnectionFactory { Uri = producerB.Uri }.CreateConnectionAsync())
        {
            await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
            var asB = new BasicProperties { ContentType = JobJson.ContentType, Persistent = true, UserId = producerB.Name };
            await channel.BasicPublishAsync("", queue, mandatory: true, asB, Job("tenant-a", "forged-for-a", image));
            await channel.BasicPublishAsync("", queue, mandatory: true, asB, Job("tenant-b", "own", image));
            // No user_id at all: nobody vouches for the tenant.
            await channel.BasicPublishAsync("", queue, mandatory: true, new BasicProperties { ContentType = JobJson.ContentType, Persistent = true },
                Job("tenant-a", "anonymous-for-a", image));
        }
        // Claiming the fleet's identity instead: RabbitMQ itself refuses a user_id that is not the connection's user.
        await using (var connection = await new ConnectionFactory { Uri = producerB.Uri }.CreateConnectionAsync())
        {
            await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
            var claimed = new BasicProperties { ContentType = JobJson.ContentType, Persistent = true, UserId = PublisherIdentity.UserOf(new Uri(fixture.RabbitUri)) };
            var refused = await Assert.ThrowsAnyAsync<Exception>(async () =>
                await channel.BasicPublishAsync("", queue, mandatory: true, claimed, Job("tenant-a", "impersonated", image)));
            Assert.Contains("406", refused is OperationInterruptedException oi ? oi.ShutdownReason?.ReplyCode.ToString(System.Globalization.CultureInfo.InvariantCulture) : refused.Message);
        }
        await worker.WaitForItemsAsync(3, TimeSpan.FromMinutes(1));

        Assert.Equal([VectorView.Id("tenant-b", "clip-tiny-r1", "s1", "own")], await VectorView.ItemsAsync(world.Store));
        Assert.Empty(await KeysAsync(world, "dead-letter/tenant-a/")); // B never writes into A's dead letters
        var records = new Dictionary<string, DeadLetterRecord>();
        foreach (var key in await KeysAsync(world, $"dead-letter/{BatchProcessor.UnauthorizedTenant}/"))
        {
            var record = DeadLetterRecord.FromJson((await world.Store.GetAsync(key, CancellationToken.None))!);
            records[record.Job.ItemId] = record;
        }
        Assert.Equal(["anonymous-for-a", "forged-for-a"], records.Keys.Order());
        Assert.All(records.Values, r => Assert.Equal(ReasonCodes.PublisherNotAuthorized, r.Reason));
        Assert.All(records.Values, r => Assert.Equal("tenant-a", r.Job.Tenant)); // the job as it was sent
        Assert.Equal(producerB.Name, records["forged-for-a"].Publisher);
        Assert.Contains($"broker user {producerB.Name} may not publish for tenant tenant-a", records["forged-for-a"].Detail);
        Assert.Equal("", records["anonymous-for-a"].Publisher);
        Assert.Contains("names no publisher", records["anonymous-for-a"].Detail);

        // An operator replays everything with the fleet's credentials: the jobs are republished on behalf of their first
        // publisher, so replay does not turn B's job for A into the fleet's own.
        var replay = CliRunner.RunWith(world.Settings(), "replay", $"dead-letter/{BatchProcessor.UnauthorizedTenant}/");
        Assert.Equal(0, replay.ExitCode);
        await worker.WaitForItemsAsync(5, TimeSpan.FromMinutes(1));
        Assert.Single(await VectorView.ItemsAsync(world.Store));
        foreach (var key in await KeysAsync(world, $"dead-letter/{BatchProcessor.UnauthorizedTenant}/"))
        {
            var record = DeadLetterRecord.FromJson((await world.Store.GetAsync(key, CancellationToken.None))!);
            Assert.Equal(2, record.Attempts);
            Assert.Equal(ReasonCodes.PublisherNotAuthorized, record.Reason);
            Assert.Equal(records[record.Job.ItemId].Publisher, record.Publisher);
        }
    }

    /// <summary>Tenant B's job points at a host that answers its headers and then stalls (an attempt would wait out the
    /// whole fetch timeout, here 10 minutes): tenant A's jobs in the same batch are written without waiting for it, and the
    /// stalled item goes back on its queue until its transient budget is spent, then ends as one dead letter.</summary>
    [Fact]
    public async Task AStalledSourceInTheBatch_HoldsItsBatchMatesNoLongerThanThePerItemBudget()
    {
        using var world = await fixture.NewWorldAsync();
        var image = await UploadPhotoAsync(world);
        await using var hostile = await HostileHttpsServer.StartAsync(await File.ReadAllBytesAsync(Photo));
        await using var worker = await WorkerHost.StartAsync(world, batch: 4, extra: new()
        {
            ["IngestFleet:Fetch:TestOnlyAllowLoopback"] = "true",
            ["IngestFleet:Fetch:TimeoutSeconds"] = "600",
            ["IngestFleet:Fetch:ItemBudgetSeconds"] = "1",
            ["IngestFleet:Fetch:TransientBudgetSeconds"] = "4",
        });
        var rabbit = new IngestFleet.Messaging.RabbitMqOptions { Uri = fixture.RabbitUri, ManagementUri = fixture.ManagementUri };
        await using var link = new IngestFleet.Messaging.Broker.BrokerLink(rabbit, "test-hostile");
        var publisher = new JobPublisher(link, rabbit, world.Fleet(4), TimeProvider.System);
        EmbedCatalogImage Of(string tenant, string item, string source) => new() { Tenant = tenant, Shard = "s1", ItemId = item, Image = source, Priority = "online" };
        // One publish, one batch of four: B's stalled source first.
        var summary = await publisher.PublishAsync(
            [Of("tenant-b", "stalled", hostile.Source("stalled.jpg")), Of("tenant-a", "a1", image), Of("tenant-a", "a2", image), Of("tenant-a", "a3", image)],
            null, CancellationToken.None);
        Assert.Empty(summary.Failed);

        await worker.WaitForItemsAsync(3, TimeSpan.FromMinutes(2)); // would wait out the 10-minute attempt without the budget
        Assert.Equal(["a1", "a2", "a3"], (await VectorView.ItemsAsync(world.Store)).Select(id => id.Split('/')[^1]).Order());

        await worker.WaitForItemsAsync(4, TimeSpan.FromMinutes(2));
        var keys = await KeysAsync(world, "dead-letter/tenant-b/");
        var record = DeadLetterRecord.FromJson((await world.Store.GetAsync(Assert.Single(keys), CancellationToken.None))!);
        Assert.Equal(ReasonCodes.TransientExhausted, record.Reason);
        Assert.Contains("per-item budget", record.Detail);
        Assert.True(hostile.StalledCalls >= 2, $"the stalled item was fetched {hostile.StalledCalls} time(s): it should have gone back to its queue and been fetched again");
        Assert.Equal(4, worker.Ledger.Items); // exactly one outcome each: the deferrals were not counted as finished items
    }

    /// <summary>A broker user made for one test through the management API, deleted afterwards.</summary>
    private sealed class BrokerUser : IAsyncDisposable
    {
        private readonly HttpClient _http;

        private BrokerUser(HttpClient http, string name, Uri uri)
        {
            _http = http;
            Name = name;
            Uri = uri;
        }

        public string Name { get; }
        public Uri Uri { get; }

        public static async Task<BrokerUser> CreateAsync(FleetFixture fixture)
        {
            var admin = new Uri(fixture.RabbitUri);
            var http = new HttpClient { BaseAddress = new Uri(fixture.ManagementUri.TrimEnd('/') + "/"), Timeout = TimeSpan.FromSeconds(10) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(Uri.UnescapeDataString(admin.UserInfo))));
            var name = $"producer-{Guid.NewGuid():N}"[..21];
            var password = Guid.NewGuid().ToString("N");
            (await http.PutAsJsonAsync($"api/users/{name}", new { password, tags = "" })).EnsureSuccessStatusCode();
            var vhost = Uri.EscapeDataString(admin.AbsolutePath.Length > 1 ? Uri.UnescapeDataString(admin.AbsolutePath[1..]) : "/");
            (await http.PutAsJsonAsync($"api/permissions/{vhost}/{name}", new { configure = ".*", write = ".*", read = ".*" })).EnsureSuccessStatusCode();
            var uri = new UriBuilder(admin) { UserName = name, Password = password }.Uri;
            return new BrokerUser(http, name, uri);
        }

        public async ValueTask DisposeAsync()
        {
            using (await _http.DeleteAsync(new Uri($"api/users/{Name}", UriKind.Relative))) { }
            _http.Dispose();
        }
    }
}
