using System.Text;
using System.Text.Json;
using IngestFleet.Contracts;
using IngestFleet.Storage;
using IngestFleet.VectorStore;
using IngestFleet.Tests;
using IngestFleet.Tests.Cli;
using IngestFleet.Messaging.Publishing;
using RabbitMQ.Client;

namespace IngestFleet.IntegrationTests;

[Collection(FleetTests.Name)]
public sealed class PipelineIntegrationTests(FleetFixture fixture)
{
    private static readonly string[] RedeliveryFiles = ["photos/coffee.jpg", "photos/rocket.jpg", "hostile/empty.jpg", "photos/astronaut.jpg"];

    private static readonly string Data = Path.Combine(AppContext.BaseDirectory, "data");
    private static readonly string[] Priorities = ["online", "high", "normal", "bulk"];

    /// <summary>Uploads every photo and hostile file to the world's bucket under images/; returns name → s3 URI.</summary>
    private static async Task<Dictionary<string, string>> UploadImagesAsync(FleetWorld world)
    {
        var uris = new Dictionary<string, string>();
        foreach (var dir in new[] { "photos", "hostile" })
            foreach (var file in Directory.GetFiles(Path.Combine(Data, dir)).Where(f => !f.EndsWith("README.md", StringComparison.Ordinal)))
            {
                var key = $"images/{dir}/{Path.GetFileName(file)}";
                await world.Store.PutAsync(key, await File.ReadAllBytesAsync(file), "application/octet-stream", CancellationToken.None);
                uris[$"{dir}/{Path.GetFileName(file)}"] = $"s3://{world.Bucket}/{key}";
            }
        return uris;
    }

    private static async Task<HashSet<string>> KeysAsync(FleetWorld world, string prefix)
    {
        var keys = new HashSet<string>();
        await foreach (var k in world.Store.ListAsync(prefix, CancellationToken.None)) keys.Add(k);
        return keys;
    }

    private static string WriteCatalog(IEnumerable<object> lines)
    {
        var path = Path.Combine(Path.GetTempPath(), $"catalog-{Guid.NewGuid():N}.jsonl");
        File.WriteAllLines(path, lines.Select(l => JsonSerializer.Serialize(l)));
        return path;
    }

    [Fact]
    public async Task Catalog500_PublishedByTheCli_EndsAsExactlyOneVectorOrOneDeadLetterPerItem()
    {
        using var world = await fixture.NewWorldAsync();
        var uris = await UploadImagesAsync(world);
        var names = uris.Keys.Order(StringComparer.Ordinal).ToArray();
        var items = Enumerable.Range(0, 500).Select(i => new
        {
            item_id = $"item-{i:D4}", image = uris[names[i % names.Length]], tenant = $"t{i % 3}", shard = $"s{i % 5}",
            priority = Priorities[i % 4], file = names[i % names.Length],
        }).ToArray();
        var catalog = WriteCatalog(items.Select(x => new { x.item_id, x.image, x.tenant, x.shard, x.priority }));

        var published = CliRunner.RunWith(world.Settings(), "publish", catalog);
        Assert.True(published.ExitCode == 0, published.Stderr + published.Stdout);
        Assert.Contains("500 confirmed, 0 not confirmed", published.Stdout);

        await using (var worker = await WorkerHost.StartAsync(world))
            await worker.WaitForItemsAsync(500, TimeSpan.FromMinutes(4));

        var vectors = await VectorView.ItemsAsync(world.Store);
        var deadLetters = await KeysAsync(world, StorageKeys.DeadLetterRoot + "/");
        Assert.Equal(500, vectors.Count + deadLetters.Count);
        foreach (var x in items)
        {
            var v = VectorView.Id(x.tenant, "clip-tiny-r1", x.shard, x.item_id);
            var d = StorageKeys.DeadLetter(x.tenant, "clip-tiny-r1", x.shard, x.item_id);
            var expectedReason = x.file.StartsWith("hostile/", StringComparison.Ordinal) ? HostileExpectations.Expected[x.file["hostile/".Length..]] : null;
            if (expectedReason is null)
            {
                Assert.True(vectors.Contains(v) && !deadLetters.Contains(d), $"{x.item_id} ({x.file}) should be a vector");
            }
            else
            {
                Assert.True(deadLetters.Contains(d) && !vectors.Contains(v), $"{x.item_id} ({x.file}) should be a dead letter");
                var record = DeadLetterRecord.FromJson((await world.Store.GetAsync(d, CancellationToken.None))!);
                Assert.Equal(expectedReason, record.Reason);
                Assert.Equal(x.item_id, record.Job.ItemId);
                Assert.Equal("clip-tiny-r1", record.ModelRevision);
                Assert.False(string.IsNullOrEmpty(record.WorkerHost));
            }
        }

        var row = (await VectorView.RowsAsync(world.Store)).First();
        Assert.Equal(512, row.Dimension);
        Assert.Equal(512, row.Embedding.Length);
        Assert.InRange(Math.Sqrt(row.Embedding.Sum(f => (double)f * f)), 0.9999, 1.0001);
        Assert.Equal("clip-tiny-r1", row.ModelRevision);
        Assert.StartsWith("s3://", row.Source);
        Assert.Equal(16, row.PreprocessContract.Length);
    }

    [Fact]
    public async Task RedeliveredBatch_LeavesIdenticalObjects()
    {
        using var world = await fixture.NewWorldAsync();
        var uris = await UploadImagesAsync(world);
        var jobs = RedeliveryFiles
            .Select((f, i) => new EmbedCatalogImage { Tenant = "t", Shard = "s", ItemId = $"r{i}", Image = uris[f], Priority = "high" }).ToArray();
        await using var worker = await WorkerHost.StartAsync(world, batch: 4);
        var publisher = (JobPublisher)worker.Services.GetService(typeof(JobPublisher))!;

        Assert.Empty((await publisher.PublishAsync(jobs, null, CancellationToken.None)).Failed);
        await worker.WaitForItemsAsync(4, TimeSpan.FromMinutes(1));
        var before = await SnapshotAsync(world);

        // The same messages arriving again, as after a lost ack.
        Assert.Empty((await publisher.PublishAsync(jobs, null, CancellationToken.None)).Failed);
        await worker.WaitForItemsAsync(8, TimeSpan.FromMinutes(1));
        var after = await SnapshotAsync(world);

        Assert.Single(before.Keys, k => k.StartsWith(StorageKeys.VectorsRoot, StringComparison.Ordinal)); // one part for the batch
        Assert.Equal(3, (await VectorView.ItemsAsync(world.Store)).Count);
        Assert.Equal(before.Keys.Where(k => k.StartsWith("vectors/", StringComparison.Ordinal)).Order(), after.Keys.Where(k => k.StartsWith("vectors/", StringComparison.Ordinal)).Order());
        foreach (var key in before.Keys.Where(k => k.StartsWith("vectors/", StringComparison.Ordinal)))
            Assert.Equal(before[key], after[key]);
        Assert.Equal(3, worker.Ledger.AlreadyPresent);
        Assert.Single(after.Keys, k => k.StartsWith(StorageKeys.DeadLetterRoot, StringComparison.Ordinal));
    }

    private static async Task<Dictionary<string, byte[]>> SnapshotAsync(FleetWorld world)
    {
        var all = new Dictionary<string, byte[]>();
        foreach (var prefix in new[] { "vectors/", "dead-letter/" })
            foreach (var key in await KeysAsync(world, prefix))
                all[key] = (await world.Store.GetAsync(key, CancellationToken.None))!;
        return all;
    }

    [Fact]
    public async Task ReplayingADeadLetterPrefix_YieldsVectors_AndASecondRunAddsNoDuplicates()
    {
        using var world = await fixture.NewWorldAsync();
        // Images that are not uploaded yet: the jobs dead-letter as source_not_found.
        var lines = Enumerable.Range(0, 6).Select(i => new { item_id = $"late-{i}", image = $"s3://{world.Bucket}/late/{i}.jpg", tenant = "acme", shard = "s1", priority = "normal" });
        var catalog = WriteCatalog(lines);
        Assert.Equal(0, CliRunner.RunWith(world.Settings(), "publish", catalog).ExitCode);
        await using var worker = await WorkerHost.StartAsync(world, batch: 8);
        await worker.WaitForItemsAsync(6, TimeSpan.FromMinutes(1));
        var deadLetters = await KeysAsync(world, "dead-letter/acme/");
        Assert.Equal(6, deadLetters.Count);
        var first = DeadLetterRecord.FromJson((await world.Store.GetAsync(deadLetters.First(), CancellationToken.None))!);
        Assert.Equal(ReasonCodes.SourceNotFound, first.Reason);

        var photo = await File.ReadAllBytesAsync(Path.Combine(Data, "photos", "chelsea.jpg"));
        for (var i = 0; i < 6; i++)
            await world.Store.PutAsync($"late/{i}.jpg", photo, "image/jpeg", CancellationToken.None);

        var replay = CliRunner.RunWith(world.Settings(), "replay", "dead-letter/acme/");
        Assert.True(replay.ExitCode == 0, replay.Stderr + replay.Stdout);
        Assert.Contains("republished 6", replay.Stdout);
        await worker.WaitForItemsAsync(12, TimeSpan.FromMinutes(1));
        Assert.Equal(6, (await VectorView.ItemsAsync(world.Store, "vectors/acme/")).Count);
        Assert.Empty(await KeysAsync(world, "dead-letter/acme/"));

        var again = CliRunner.RunWith(world.Settings(), "replay", "dead-letter/acme/");
        Assert.Equal(0, again.ExitCode);
        Assert.Contains("0 parked jobs", again.Stdout);
        Assert.Equal(6, (await VectorView.ItemsAsync(world.Store, "vectors/acme/")).Count);
    }

    [Fact]
    public async Task ReplayOfAJobThatFailsAgain_KeepsOneRecordPerItem_AndIsNotRepublishedTwice()
    {
        using var world = await fixture.NewWorldAsync();
        var uris = await UploadImagesAsync(world);
        var catalog = WriteCatalog([new { item_id = "bad", image = uris["hostile/html-error-page.jpg"], tenant = "acme", shard = "s", priority = "bulk" }]);
        Assert.Equal(0, CliRunner.RunWith(world.Settings(), "publish", catalog).ExitCode);
        await using var worker = await WorkerHost.StartAsync(world, batch: 4);
        await worker.WaitForItemsAsync(1, TimeSpan.FromMinutes(1));

        var dry = CliRunner.RunWith(world.Settings(), "replay", "dead-letter/acme/", "--dry-run");
        Assert.Contains("would republish 1", dry.Stdout);
        Assert.Equal(0, CliRunner.RunWith(world.Settings(), "replay", "dead-letter/acme/").ExitCode);
        await worker.WaitForItemsAsync(2, TimeSpan.FromMinutes(1));

        var keys = await KeysAsync(world, "dead-letter/acme/");
        var record = DeadLetterRecord.FromJson((await world.Store.GetAsync(keys.Single(), CancellationToken.None))!);
        Assert.Equal(2, record.Attempts);
        Assert.Equal(1, record.Job.Replays);
        Assert.Null(record.ReplayedAt); // failed again after the replay, so it is pending again
        Assert.Empty(await KeysAsync(world, "vectors/"));
    }

    [Fact]
    public async Task RawJsonJob_PublishedWithoutMassTransit_IsEmbedded()
    {
        using var world = await fixture.NewWorldAsync();
        var uris = await UploadImagesAsync(world);
        await using var worker = await WorkerHost.StartAsync(world, batch: 4);
        var body = Encoding.UTF8.GetBytes($$"""
            {"tenant":"py","shard":"s9","item_id":"from-python","image":"{{uris["photos/retina.jpg"]}}","priority":"online"}
            """);
        var factory = new ConnectionFactory { Uri = new Uri(fixture.RabbitUri) };
        await using (var connection = await factory.CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true)))
        {
            // user_id: the producer's broker user, which RabbitMQ checks and the worker binds the tenant to.
            var props = new BasicProperties { ContentType = "application/json", DeliveryMode = DeliveryModes.Persistent, UserId = factory.UserName };
            await channel.BasicPublishAsync(exchange: "", routingKey: world.QueuePrefix + "online", mandatory: true, basicProperties: props, body: body);
        }
        await worker.WaitForItemsAsync(1, TimeSpan.FromMinutes(1));
        Assert.Contains(VectorView.Id("py", "clip-tiny-r1", "s9", "from-python"), await VectorView.ItemsAsync(world.Store));
    }

    [Fact]
    public async Task InvalidCatalog_ReportsEveryBadLineByNumber_AndPublishesNothing()
    {
        using var world = await fixture.NewWorldAsync();
        var path = Path.Combine(Path.GetTempPath(), $"bad-{Guid.NewGuid():N}.jsonl");
        File.WriteAllLines(path,
        [
            """{"item_id":"ok-1","image":"s3://b/k.jpg"}""",
            """{"item_id":"","image":"s3://b/k.jpg"}""",
            """{"item_id":"x","image":"ftp://host/x.jpg"}""",
            "not json",
            """{"item_id":"y","image":"s3://b/y.jpg","priority":"urgent"}""",
        ]);
        var r = CliRunner.RunWith(world.Settings(), "publish", path);
        Assert.Equal(6, r.ExitCode);
        foreach (var line in new[] { "line 2", "line 3", "line 4", "line 5" })
            Assert.Contains(line, r.Stderr);
        Assert.DoesNotContain("line 1:", r.Stderr);
        Assert.Contains("Nothing was published", r.Stderr);
    }

    [Fact]
    public async Task PublishWithTheBrokerDown_ExitsSevenNamingTheFix()
    {
        using var world = await fixture.NewWorldAsync();
        var settings = world.Settings();
        settings["IngestFleet__RabbitMq__Uri"] = "amqp://guest:guest@127.0.0.1:1/";
        var catalog = WriteCatalog([new { item_id = "a", image = "s3://b/a.jpg" }]);
        var r = CliRunner.RunWith(settings, "publish", catalog);
        Assert.Equal(7, r.ExitCode);
        Assert.Contains("cannot reach RabbitMQ", r.Stderr);
        Assert.Contains("--broker", r.Stderr);
    }
}

[Collection(FleetTests.Name)]
public sealed class TenantIsolationIntegrationTests(FleetFixture fixture)
{
    [Fact]
    public async Task ATenantsJobs_ReadOnlyItsAllowedSources_EverythingElseIsDeadLetteredSourceForbidden()
    {
        using var world = await fixture.NewWorldAsync();
        var photo = await File.ReadAllBytesAsync(Path.Combine(AppContext.BaseDirectory, "data", "photos", "coffee.jpg"));
        await world.Store.PutAsync("acme/coffee.jpg", photo, "image/jpeg", CancellationToken.None);
        await world.Store.PutAsync("beta/secret.jpg", photo, "image/jpeg", CancellationToken.None);
        var b = world.Bucket;
        var jobs = new[]
        {
            new EmbedCatalogImage { Tenant = "acme", Shard = "s", ItemId = "own", Image = $"s3://{b}/acme/coffee.jpg", Priority = "bulk" },
            new EmbedCatalogImage { Tenant = "acme", Shard = "s", ItemId = "other-tenant", Image = $"s3://{b}/beta/secret.jpg", Priority = "bulk" },
            new EmbedCatalogImage { Tenant = "acme", Shard = "s", ItemId = "traversal", Image = $"s3://{b}/acme/../beta/secret.jpg", Priority = "bulk" },
            new EmbedCatalogImage { Tenant = "beta", Shard = "s", ItemId = "unlisted", Image = $"s3://{b}/beta/secret.jpg", Priority = "bulk" },
        };
        await using var worker = await WorkerHost.StartAsync(world, batch: 4, extra: new() { ["IngestFleet:SourcePolicy:S3Sources:acme:0"] = $"{b}/acme/*" });
        var publisher = (JobPublisher)worker.Services.GetService(typeof(JobPublisher))!;
        Assert.Empty((await publisher.PublishAsync(jobs, null, CancellationToken.None)).Failed);
        await worker.WaitForItemsAsync(jobs.Length, TimeSpan.FromMinutes(1));

        var withVector = await VectorView.ItemsAsync(world.Store);
        Assert.Contains(VectorView.Id(jobs[0], "clip-tiny-r1"), withVector);
        foreach (var job in jobs.Skip(1))
        {
            var record = DeadLetterRecord.FromJson((await world.Store.GetAsync(StorageKeys.DeadLetter(job, "clip-tiny-r1"), CancellationToken.None))!);
            Assert.Equal(ReasonCodes.SourceForbidden, record.Reason);
            Assert.DoesNotContain(VectorView.Id(job, "clip-tiny-r1"), withVector);
        }
    }
}
