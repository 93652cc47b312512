using System.Net.Http.Headers;
using System.Net.Http.Json;
using IngestFleet.Contracts;
using IngestFleet.Messaging.Publishing;
using IngestFleet.Storage;
using IngestFleet.Tests.Cli;
using IngestFleet.Tests.Worker;
using IngestFleet.Worker.Processing;
using IngestFleet.Gateway;
using Microsoft.Extensions.DependencyInjection;
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

    private const string KeyA = "ifk_hostile-suite-a";
    private const string KeyB = "ifk_hostile-suite-b";

    /// <summary>Tenant B tries, through one real gateway, each thing issue 21 reported, while tenant A posts valid jobs:
    /// B's trickled bodies hold only its own slots and end as 408 (point 2), its hostile bodies get small 400s (3), it
    /// is refused past its share of the queue (5), it learns no credentials or broker text from anonymous probes (9),
    /// and its job naming A's images is dead-lettered before any fetch by a worker that runs with allow-lists (1). Every
    /// one of A's jobs is accepted and becomes a vector.</summary>
    [Fact]
    public async Task TenantBMisbehavesEveryWayThroughTheGateway_TenantAsJobsAreAllAcceptedAndEmbedded()
    {
        using var world = await fixture.NewWorldAsync();
        var imageA = await UploadPhotoAsync(world, "tenant-a/astronaut.jpg");
        var imageB = await UploadPhotoAsync(world, "tenant-b/astronaut.jpg");
        var config = world.Settings().ToDictionary(kv => kv.Key.Replace("__", ":", StringComparison.Ordinal), kv => (string?)kv.Value);
        foreach (var (i, name, key, tenant) in new[] { (0, "producer-a", KeyA, "tenant-a"), (1, "producer-b", KeyB, "tenant-b") })
        {
            config[$"IngestFleet:Gateway:Auth:Keys:{i}:Name"] = name;
            config[$"IngestFleet:Gateway:Auth:Keys:{i}:Sha256"] = IngestFleet.Gateway.Security.ApiKeyRegistry.Hash(key);
            config[$"IngestFleet:Gateway:Auth:Keys:{i}:Tenants:0"] = tenant;
        }
        config["IngestFleet:Gateway:MaxConcurrentRequests"] = "4";
        config["IngestFleet:Gateway:MaxConcurrentRequestsPerKey"] = "2";
        config["IngestFleet:Gateway:BodyReadTimeoutSeconds"] = "2";
        config["IngestFleet:Limits:Queues:online:MaxDepth"] = "10"; // each tenant's share: 5 jobs
        config["IngestFleet:Limits:Queues:online:WaitSloSeconds"] = "600";
        config["IngestFleet:Limits:SampleIntervalSeconds"] = "0.2";
        var app = IngestFleet.Gateway.GatewayApp.Build(config, "http://127.0.0.1:0", Microsoft.Extensions.Logging.LogLevel.Warning);
        await app.StartAsync();
        await using var gateway = app;
        using var a = Client(gateway, KeyA);
        using var b = Client(gateway, KeyB);
        using var anonymous = new HttpClient { BaseAddress = gateway.BoundAddress() };
        var acceptedA = new List<string>();
        async Task PostAAsync(string item)
        {
            using var answer = await a.PostAsJsonAsync(new Uri("/v1/jobs", UriKind.Relative), Posted("tenant-a", item, imageA));
            Assert.Equal(System.Net.HttpStatusCode.Accepted, answer.StatusCode);
            acceptedA.Add(item);
        }

        // 2: B's bodies trickle into every slot it can get; it holds its two, more get 429, A is accepted meanwhile.
        var slots = gateway.Services.GetRequiredService<IngestFleet.Gateway.Security.RequestSlots>();
        await using (var first = await IngestFleet.Tests.Gateway.TrickledPost.StartAsync(gateway.BoundAddress(), KeyB))
        await using (var second = await IngestFleet.Tests.Gateway.TrickledPost.StartAsync(gateway.BoundAddress(), KeyB))
        {
            for (var i = 0; i < 600 && slots.InFlight("key:producer-b") < 2; i++) await Task.Delay(50);
            Assert.Equal(2, slots.InFlight("key:producer-b"));
            using (var more = await b.PostAsJsonAsync(new Uri("/v1/jobs", UriKind.Relative), Posted("tenant-b", "more", imageB)))
                Assert.Equal(System.Net.HttpStatusCode.TooManyRequests, more.StatusCode);
            await PostAAsync("a-while-b-trickles");
            // The body deadline (2 s) ends B's trickles: 408.
            Assert.StartsWith("HTTP/1.1 408", await first.StatusLineAsync(), StringComparison.Ordinal);
            Assert.StartsWith("HTTP/1.1 408", await second.StatusLineAsync(), StringComparison.Ordinal);
        }

        // 3: hostile bodies get small, bounded 400s.
        var wide = new System.Text.StringBuilder($"{{\"tenant\":\"tenant-b\",\"shard\":\"s1\",\"item_id\":\"w\",\"image\":\"{imageB}\",\"priority\":\"online\"");
        for (var i = 0; i < 20_000; i++) wide.Append(System.Globalization.CultureInfo.InvariantCulture, $",\"f{i}\":{i}");
        wide.Append('}');
        foreach (var body in new[] { wide.ToString(), "{\"tenant\":\"tenant-b\",\"shard\":\"s1\",\"item_id\":\"a\\ud800b\",\"image\":\"s3://c/a.jpg\",\"priority\":\"online\"}" })
        {
            using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
            using var answer = await b.PostAsync(new Uri("/v1/jobs", UriKind.Relative), content);
            Assert.Equal(System.Net.HttpStatusCode.BadRequest, answer.StatusCode);
            Assert.True((await answer.Content.ReadAsStringAsync()).Length < 2_000);
        }
        await PostAAsync("a-after-hostile-bodies");

        // 5: B fills its share of the online queue (one of its jobs names A's image), then is refused; A is not.
        using (var share = await b.PostAsJsonAsync(new Uri("/v1/jobs", UriKind.Relative), new
        {
            jobs = Enumerable.Range(0, 4).Select(i => Posted("tenant-b", $"b{i}", imageB)).Append(Posted("tenant-b", "reads-a", imageA)).ToArray(),
        }))
            Assert.Equal(System.Net.HttpStatusCode.Accepted, share.StatusCode);
        using (var over = await b.PostAsJsonAsync(new Uri("/v1/jobs", UriKind.Relative), Posted("tenant-b", "b-over", imageB)))
        {
            Assert.Equal(System.Net.HttpStatusCode.TooManyRequests, over.StatusCode);
            Assert.Contains("share", await over.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        await PostAAsync("a-while-b-is-over-its-share");

        // 9: anonymous probes carry no credentials.
        var password = Uri.UnescapeDataString(new Uri(fixture.RabbitUri).UserInfo).Split(':')[^1];
        foreach (var path in new[] { "/healthz/ready", "/v1/limits" })
        {
            var text = await (await anonymous.GetAsync(new Uri(path, UriKind.Relative))).Content.ReadAsStringAsync();
            Assert.DoesNotContain(new Uri(fixture.RabbitUri).UserInfo, text, StringComparison.Ordinal);
            Assert.DoesNotContain($":{password}@", text, StringComparison.Ordinal);
        }

        // 1: a worker with allow-lists (no opt-out) embeds A's jobs and B's own, and refuses B's read of A's images.
        await using var worker = await WorkerHost.StartAsync(world, batch: 4, extra: new()
        {
            ["IngestFleet:SourcePolicy:RequireAllowList"] = "true",
            ["IngestFleet:SourcePolicy:S3Sources:tenant-a:0"] = $"{world.Bucket}/tenant-a/*",
            ["IngestFleet:SourcePolicy:S3Sources:tenant-b:0"] = $"{world.Bucket}/tenant-b/*",
        });
        await worker.WaitForItemsAsync(acceptedA.Count + 5, TimeSpan.FromMinutes(2));
        var vectors = await VectorView.ItemsAsync(world.Store);
        Assert.All(acceptedA, item => Assert.Contains(VectorView.Id("tenant-a", "clip-tiny-r1", "s1", item), vectors));
        Assert.Equal(acceptedA.Count + 4, vectors.Count);
        var forbidden = DeadLetterRecord.FromJson((await world.Store.GetAsync(Assert.Single(await KeysAsync(world, "dead-letter/")), CancellationToken.None))!);
        Assert.Equal(("tenant-b", "reads-a", ReasonCodes.SourceForbidden), (forbidden.Job.Tenant, forbidden.Job.ItemId, forbidden.Reason));

        static object Posted(string tenant, string item, string image) => new { tenant, shard = "s1", item_id = item, image, priority = "online" };
        static HttpClient Client(Microsoft.AspNetCore.Builder.WebApplication app, string key)
        {
            var http = new HttpClient { BaseAddress = app.BoundAddress() };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
            return http;
        }
    }

    [Fact]
    public async Task AnotherBrokerUsersJobForTenantA_IsDeadLetteredApart_AndStaysRefusedThroughReplay()
    {
        using var world = await fixture.NewWorldAsync();
        var image = await UploadPhotoAsync(world);
        await using var producerB = await BrokerUser.CreateAsync(fixture);
        var extra = new Dictionary<string, string?> { [$"IngestFleet:PublisherIdentity:Tenants:{producerB.Name}:0"] = "tenant-b" };
        var records = new Dictionary<string, DeadLetterRecord>();
        await using (var worker = await WorkerHost.StartAsync(world, batch: 4, extra: extra))
        {
            var queue = world.QueuePrefix + "online";

            await using (var connection = await new ConnectionFactory { Uri = producerB.Uri }.CreateConnectionAsync())
            {
                await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
                var asB = new BasicProperties { ContentType = JobJson.ContentType, Persistent = true, UserId = producerB.Name };
                await channel.BasicPublishAsync("", queue, mandatory: true, asB, Job("tenant-a", "forged-for-a", image));
                await channel.BasicPublishAsync("", queue, mandatory: true, asB, Job("tenant-b", "own", image));
                // Invalid as well (an unknown field): still recorded apart, never as tenant A's invalid_job.
                await channel.BasicPublishAsync("", queue, mandatory: true, asB, System.Text.Encoding.UTF8.GetBytes(
                    $$"""{"tenant":"tenant-a","shard":"s1","item_id":"invalid-for-a","image":"{{image}}","priority":"online","bogus":1}"""));
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
            await worker.WaitForItemsAsync(4, TimeSpan.FromMinutes(1));

            Assert.Equal([VectorView.Id("tenant-b", "clip-tiny-r1", "s1", "own")], await VectorView.ItemsAsync(world.Store));
            Assert.Empty(await KeysAsync(world, "dead-letter/tenant-a/")); // B never writes into A's dead letters
            foreach (var key in await KeysAsync(world, $"dead-letter/{PublisherIdentity.UnauthorizedTenant}/"))
            {
                var record = DeadLetterRecord.FromJson((await world.Store.GetAsync(key, CancellationToken.None))!);
                records[record.Job.ItemId] = record;
            }
            Assert.Equal(["anonymous-for-a", "forged-for-a", "invalid-for-a"], records.Keys.Order());
            Assert.All(records.Values, r => Assert.Equal(ReasonCodes.PublisherNotAuthorized, r.Reason));
            Assert.All(records.Values, r => Assert.Equal("tenant-a", r.Job.Tenant)); // the job as it was sent
            Assert.Equal(producerB.Name, records["forged-for-a"].Publisher);
            Assert.Contains($"broker user {producerB.Name} may not publish for tenant tenant-a", records["forged-for-a"].Detail);
            Assert.Equal("", records["anonymous-for-a"].Publisher);
            Assert.Contains("names no publisher", records["anonymous-for-a"].Detail);
        }
        // An operator replays everything with the fleet's credentials: the jobs are republished on behalf of their first
        // publisher, so replay does not turn B's job for A into the fleet's own. (With a new worker: one that refuses the
        // job again while replay marks its record is the race ReplayMark_NeverOverwritesARecordAWorkerRewroteMeanwhile
        // covers.)
        var replay = CliRunner.RunWith(world.Settings(), "replay", $"dead-letter/{PublisherIdentity.UnauthorizedTenant}/");
        Assert.Equal(0, replay.ExitCode);
        Assert.Contains("republished 3", replay.Stdout, StringComparison.Ordinal);
        await using var again = await WorkerHost.StartAsync(world, batch: 4, extra: extra);
        await again.WaitForItemsAsync(3, TimeSpan.FromMinutes(1));
        Assert.Single(await VectorView.ItemsAsync(world.Store));
        foreach (var key in await KeysAsync(world, $"dead-letter/{PublisherIdentity.UnauthorizedTenant}/"))
        {
            var record = DeadLetterRecord.FromJson((await world.Store.GetAsync(key, CancellationToken.None))!);
            Assert.Equal(2, record.Attempts);
            Assert.Equal(ReasonCodes.PublisherNotAuthorized, record.Reason);
            Assert.Equal(records[record.Job.ItemId].Publisher, record.Publisher);
        }
    }

    /// <summary>A batch that fails as a whole (here: the fleet's bucket does not exist, so nothing can be written) holding
    /// another broker user's job: MassTransit cannot move that message to <c>_error</c> as received (the broker refuses
    /// its user_id from the worker's connection), so it goes back to its queue as the fleet's, on its publisher's behalf,
    /// and its next failure lands in <c>_error</c> like anyone's. The job is never lost and always names producer B.</summary>
    [Fact]
    public async Task AFailedBatch_HandsAnotherBrokerUsersJobToTheErrorQueue_StillNamingItsPublisher()
    {
        using var world = await fixture.NewWorldAsync();
        var image = await UploadPhotoAsync(world);
        await using var producerB = await BrokerUser.CreateAsync(fixture);
        var queue = world.QueuePrefix + "online";
        var fleetUser = PublisherIdentity.UserOf(new Uri(fixture.RabbitUri));
        var extra = new Dictionary<string, string?>
        {
            [$"IngestFleet:PublisherIdentity:Tenants:{producerB.Name}:0"] = "tenant-b",
            ["IngestFleet:S3:Bucket"] = $"missing-{Guid.NewGuid():N}"[..20], // writes fail; the image is read from the test's bucket
            ["IngestFleet:S3:CreateBucket"] = "false",
            ["IngestFleet:StoreRetry:BudgetSeconds"] = "1",
        };
        await using (var worker = await WorkerHost.StartAsync(world, batch: 4, extra: extra))
        {
            await using (var connection = await new ConnectionFactory { Uri = producerB.Uri }.CreateConnectionAsync())
            await using (var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true)))
                await channel.BasicPublishAsync("", queue, mandatory: true, new BasicProperties { ContentType = JobJson.ContentType, Persistent = true, UserId = producerB.Name },
                    Job("tenant-b", "own", image));
            // Wait until a copy reached the error queue (MassTransit declares it on its first move).
            using var http = Management();
            for (var i = 0; i < 240 && await MessagesAsync(http, queue + "_error") < 1; i++) await Task.Delay(500);
            Assert.True(await MessagesAsync(http, queue + "_error") >= 1, "nothing reached the error queue");
        }
        // Stopped: whatever the worker held is back in its queue. Exactly one copy of the job exists, and it is the fleet's
        // on B's behalf.
        var copies = new List<IReadOnlyBasicProperties>();
        await using (var connection = await new ConnectionFactory { Uri = new Uri(fixture.RabbitUri) }.CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync())
            foreach (var name in new[] { queue, queue + "_error" })
                while (await channel.BasicGetAsync(name, autoAck: true) is { } got)
                    copies.Add(got.BasicProperties);
        var copy = Assert.Single(copies);
        Assert.Equal(fleetUser, copy.UserId);
        Assert.Equal(producerB.Name, PublisherIdentity.PublisherOf(copy, fleetUser));
    }

    private HttpClient Management()
    {
        var http = new HttpClient { BaseAddress = new Uri(fixture.ManagementUri.TrimEnd('/') + "/") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(Uri.UnescapeDataString(new Uri(fixture.RabbitUri).UserInfo))));
        return http;
    }

    /// <summary>Ready plus unacked messages of a queue (0 when it does not exist yet).</summary>
    private static async Task<long> MessagesAsync(HttpClient management, string queue)
    {
        using var response = await management.GetAsync(new Uri($"api/queues/%2F/{Uri.EscapeDataString(queue)}", UriKind.Relative));
        if (!response.IsSuccessStatusCode) return 0;
        using var doc = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return doc.RootElement.TryGetProperty("messages", out var m) && m.TryGetInt64(out var n) ? n : 0;
    }

    /// <summary>Issue 22: a worker holds <c>BatchesInFlight</c> batches at once, so the next batch's fetches are out while
    /// the first waits. Every image is held by the server until the test releases it: with batch 2 and two batches in
    /// flight, four fetches wait at once (one batch at a time would stop at two), then every job gets its vector.</summary>
    [Fact]
    public async Task TwoBatchesInFlight_FetchAtOnce_ThenEachItemHasItsVector()
    {
        using var world = await fixture.NewWorldAsync();
        await using var hostile = await HostileHttpsServer.StartAsync(await File.ReadAllBytesAsync(Photo));
        await using var worker = await WorkerHost.StartAsync(world, batch: 2, extra: new()
        {
            ["IngestFleet:Fetch:TestOnlyAllowLoopback"] = "true",
            ["IngestFleet:Fleet:BatchesInFlight"] = "2",
            ["IngestFleet:Fleet:BatchTimeLimitMs"] = "10000", // batches close on their second message, never on time with one
        });
        var rabbit = new IngestFleet.Messaging.RabbitMqOptions { Uri = fixture.RabbitUri, ManagementUri = fixture.ManagementUri };
        await using var link = new IngestFleet.Messaging.Broker.BrokerLink(rabbit, "test-in-flight");
        var publisher = new JobPublisher(link, rabbit, world.Fleet(2), TimeProvider.System);
        var jobs = Enumerable.Range(0, 4).Select(i => new EmbedCatalogImage
        {
            Tenant = "tenant-a", Shard = "s1", ItemId = $"held-{i}", Image = hostile.Source($"held/{i}.jpg"), Priority = "bulk",
        }).ToList();
        Assert.Empty((await publisher.PublishAsync(jobs, null, CancellationToken.None)).Failed);

        var deadline = DateTime.UtcNow.AddMinutes(1);
        while (hostile.HeldNow < 4 && DateTime.UtcNow < deadline) await Task.Delay(50);
        var heldAtOnce = hostile.HeldNow;
        hostile.ReleaseHeld();
        Assert.Equal(4, heldAtOnce);

        await worker.WaitForItemsAsync(4, TimeSpan.FromMinutes(2));
        Assert.Equal(jobs.Select(j => j.ItemId).Order(), (await VectorView.ItemsAsync(world.Store)).Select(id => id.Split('/')[^1]).Order());
        Assert.Equal(4, worker.Ledger.Items);
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

    /// <summary>Point 4 on the real worker host: tenant B's batch of eight 2048 × 2048 catalog JPEGs (4.2 megapixels each),
    /// preprocessed four at a time, under a 5-megapixel decode budget. Two of them never decode at once (the budget's
    /// peak stays under it), every item still becomes a vector, and tenant A's job in the same queue too.
    /// The memory this bounds is measured in its own process by <c>DecodeBudgetTests</c> and the <c>decode-budget</c>
    /// benchmark (a shared test process cannot attribute its RSS).</summary>
    [Fact]
    public async Task ABatchOfLargeImages_DecodesWithinTheProcesssDecodeBudget()
    {
        using var world = await fixture.NewWorldAsync();
        var large = Path.Combine(AppContext.BaseDirectory, "data", "photos", "catalog-astronaut-2048.jpg");
        await world.Store.PutAsync("tenant-b/large.jpg", await File.ReadAllBytesAsync(large), "image/jpeg", CancellationToken.None);
        var image = await UploadPhotoAsync(world);
        await using var worker = await WorkerHost.StartAsync(world, batch: 9, extra: new()
        {
            ["IngestFleet:Images:DecodeBudgetPixels"] = "5000000",
            ["IngestFleet:Fleet:PreprocessParallelism"] = "4",
        });
        var rabbit = new IngestFleet.Messaging.RabbitMqOptions { Uri = fixture.RabbitUri, ManagementUri = fixture.ManagementUri };
        await using var link = new IngestFleet.Messaging.Broker.BrokerLink(rabbit, "test-hostile");
        var jobs = Enumerable.Range(0, 8)
            .Select(i => new EmbedCatalogImage { Tenant = "tenant-b", Shard = "s1", ItemId = $"large-{i}", Image = $"s3://{world.Bucket}/tenant-b/large.jpg", Priority = "bulk" })
            .Append(new EmbedCatalogImage { Tenant = "tenant-a", Shard = "s1", ItemId = "a", Image = image, Priority = "bulk" }).ToArray();
        Assert.Empty((await new JobPublisher(link, rabbit, world.Fleet(9), TimeProvider.System).PublishAsync(jobs, null, CancellationToken.None)).Failed);

        await worker.WaitForItemsAsync(9, TimeSpan.FromMinutes(2));
        Assert.Equal(9, (await VectorView.ItemsAsync(world.Store)).Count);
        var budget = worker.Services.GetRequiredService<IngestFleet.Embedding.Preprocessing.ImagePreprocessor>().Budget;
        // One large image at a time (A's small one may decode beside it): two would be 8.4 MP, past the 5 MP budget.
        Assert.InRange(budget.PeakPixels, 2048L * 2048, budget.Pixels);
    }

    /// <summary>Points 6 and 7 on the real broker and S3 server. Among tenant A's dead letters sit records that can never be
    /// replayed (tenant B's job for a class no queue has, the poison drain's <c>_invalid</c> record with no class): one
    /// replay republishes A's three, reports the other two and leaves them; a second replay republishes nothing, so the
    /// queue holds exactly A's three. The poison queue every party declares has its own delivery limit and a
    /// dead-letter target, so RabbitMQ never drops from it.</summary>
    [Fact]
    public async Task UnreplayableRecords_NeverBreakAReplay_AndThePoisonQueueNeverDrops()
    {
        using var world = await fixture.NewWorldAsync();
        var image = await UploadPhotoAsync(world);
        var jobs = Enumerable.Range(0, 3).Select(i => new EmbedCatalogImage { Tenant = "tenant-a", Shard = "s1", ItemId = $"a{i}", Image = image, Priority = "online" })
            .Append(new EmbedCatalogImage { Tenant = "tenant-b", Shard = "s1", ItemId = "lost-class", Image = image, Priority = "urgent" })
            .Append(new EmbedCatalogImage { Tenant = "_invalid", Shard = "_poison", ItemId = "delivery-1", Image = "", Priority = "" });
        var at = DateTimeOffset.UtcNow;
        foreach (var job in jobs)
            await world.Store.PutAsync(StorageKeys.DeadLetter(job, "clip-tiny-r1"), new DeadLetterRecord
            {
                Job = job, Reason = ReasonCodes.TransientExhausted, Detail = "d", ModelRevision = "clip-tiny-r1", FirstFailedAt = at, LastFailedAt = at,
            }.ToJson(), DeadLetterRecord.ContentType, CancellationToken.None);

        var first = CliRunner.RunWith(world.Settings(), "replay", "dead-letter/");
        Assert.True(first.ExitCode == 2, first.Stdout + first.Stderr); // some records are not replayable: exit 2
        Assert.Contains("republished 3", first.Stdout, StringComparison.Ordinal);
        Assert.Contains("2 not replayable", first.Stdout, StringComparison.Ordinal);
        Assert.Contains("lost-class", first.Stderr, StringComparison.Ordinal);
        Assert.Contains("delivery-1", first.Stderr, StringComparison.Ordinal);
        var second = CliRunner.RunWith(world.Settings(), "replay", "dead-letter/");
        Assert.Contains("republished 0", second.Stdout, StringComparison.Ordinal);

        var fleet = world.Fleet();
        await using (var connection = await new ConnectionFactory { Uri = new Uri(fixture.RabbitUri) }.CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync())
            Assert.Equal(3u, (await channel.QueueDeclarePassiveAsync(fleet.QueueName("online"))).MessageCount);

        using var http = new HttpClient { BaseAddress = new Uri(fixture.ManagementUri.TrimEnd('/') + "/") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(Uri.UnescapeDataString(new Uri(fixture.RabbitUri).UserInfo))));
        var poison = IngestFleet.Messaging.Broker.FleetTopology.PoisonName(fleet);
        using var queue = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync(new Uri($"api/queues/%2F/{Uri.EscapeDataString(poison)}", UriKind.Relative)));
        var arguments = queue.RootElement.GetProperty("arguments");
        Assert.Equal("quorum", arguments.GetProperty("x-queue-type").GetString());
        Assert.Equal(fleet.PoisonDeliveryLimit, arguments.GetProperty("x-delivery-limit").GetInt32());
        Assert.Equal(IngestFleet.Messaging.Broker.FleetTopology.PoisonOverflowName(fleet), arguments.GetProperty("x-dead-letter-exchange").GetString());
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
