using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using IngestFleet.Gateway;
using IngestFleet.Storage;
using IngestFleet.VectorStore;
using IngestFleet.Tests.Cli;
using IngestFleet.Messaging;
using IngestFleet.Messaging.Limits;
using IngestFleet.Messaging.Shedding;
using IngestFleet.Messaging.Broker;
using IngestFleet.Operations.Replay;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace IngestFleet.IntegrationTests;

/// <summary>Published limits on the real broker and S3 server: the gateway's 202/400/413/429/503 and zero-loss shedding.</summary>
[Collection(FleetTests.Name)]
public sealed class LimitsIntegrationTests(FleetFixture fixture)
{
    private static readonly string Photo = Path.Combine(AppContext.BaseDirectory, "data", "photos", "astronaut.jpg");

    private static async Task<string> UploadPhotoAsync(FleetWorld world)
    {
        await world.Store.PutAsync("images/astronaut.jpg", await File.ReadAllBytesAsync(Photo), "image/jpeg", CancellationToken.None);
        return $"s3://{world.Bucket}/images/astronaut.jpg";
    }

    private static Dictionary<string, string?> Config(FleetWorld world, Dictionary<string, string?> extra)
    {
        var d = world.Settings().ToDictionary(kv => kv.Key.Replace("__", ":", StringComparison.Ordinal), kv => (string?)kv.Value);
        d["IngestFleet:Gateway:Auth:AllowAnonymous"] = "true"; // the gateway's key checks are unit-tested; these tests are about limits
        foreach (var (k, v) in extra) d[k] = v;
        return d;
    }

    private static async Task<WebApplication> StartGatewayAsync(Dictionary<string, string?> config)
    {
        var app = GatewayApp.Build(config, "http://127.0.0.1:0", LogLevel.Warning);
        await app.StartAsync();
        return app;
    }

    private static object Job(string uri, string item, string priority = "online", string shard = "s1") =>
        new { tenant = "acme", shard, item_id = item, image = uri, priority };

    private static async Task<HashSet<string>> KeysAsync(FleetWorld world, string prefix)
    {
        var keys = new HashSet<string>();
        await foreach (var k in world.Store.ListAsync(prefix, CancellationToken.None)) keys.Add(k);
        return keys;
    }

    [Fact]
    public async Task Gateway_Accepts_Then429WithRetryAfterOverTheLimit_Then202AgainOnceTheQueueDrains()
    {
        using var world = await fixture.NewWorldAsync();
        var uri = await UploadPhotoAsync(world);
        var config = Config(world, new()
        {
            ["IngestFleet:Limits:Queues:online:MaxDepth"] = "6",
            ["IngestFleet:Limits:TenantShare"] = "1", // one tenant fills the queue to its limit here
            ["IngestFleet:Limits:Queues:online:ResumeDepth"] = "3",
            ["IngestFleet:Limits:Queues:online:WaitSloSeconds"] = "600",
            ["IngestFleet:Limits:SampleIntervalSeconds"] = "0.2",
        });
        await using var gateway = await StartGatewayAsync(config);
        using var http = new HttpClient { BaseAddress = gateway.BoundAddress() };

        var accepted = await http.PostAsJsonAsync("/v1/jobs", new { jobs = Enumerable.Range(0, 6).Select(i => Job(uri, $"a{i}")).ToArray() });
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        using (var body = JsonDocument.Parse(await accepted.Content.ReadAsStringAsync()))
        {
            Assert.Equal(6, body.RootElement.GetProperty("accepted").GetInt32());
            Assert.Equal(Enumerable.Range(0, 6).Select(i => $"a{i}"), body.RootElement.GetProperty("item_ids").EnumerateArray().Select(e => e.GetString() ?? "").ToArray());
        }

        var over = await http.PostAsJsonAsync("/v1/jobs", Job(uri, "a6"));
        Assert.Equal(HttpStatusCode.TooManyRequests, over.StatusCode);
        Assert.True(over.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), "429 must carry Retry-After");
        var problem = await over.Content.ReadAsStringAsync();
        Assert.Contains("max depth 6", problem);
        Assert.Equal("application/problem+json", over.Content.Headers.ContentType?.MediaType);

        // Limits are published over HTTP too, with the current depth once the next sample is taken.
        long seenDepth = -1;
        for (var i = 0; i < 40 && seenDepth != 6; i++)
        {
            await Task.Delay(250);
            using var limits = JsonDocument.Parse(await http.GetStringAsync(new Uri("/v1/limits", UriKind.Relative)));
            var online = limits.RootElement.GetProperty("queues").EnumerateArray().First(q => q.GetProperty("limit").GetProperty("priority").GetString() == "online");
            Assert.Equal(6, online.GetProperty("limit").GetProperty("max_depth").GetInt64());
            seenDepth = online.GetProperty("current").GetProperty("depth").GetInt64();
        }
        Assert.Equal(6, seenDepth);

        await using (var worker = await WorkerHost.StartAsync(world))
        {
            await worker.WaitForItemsAsync(6, TimeSpan.FromMinutes(1));
            var deadline = DateTime.UtcNow.AddSeconds(30);
            HttpResponseMessage again;
            while ((again = await http.PostAsJsonAsync("/v1/jobs", Job(uri, "a6"))).StatusCode == HttpStatusCode.TooManyRequests && DateTime.UtcNow < deadline)
                await Task.Delay(500);
            Assert.Equal(HttpStatusCode.Accepted, again.StatusCode);
            await worker.WaitForItemsAsync(7, TimeSpan.FromMinutes(1));
        }
        var vectors = await VectorView.ItemsAsync(world.Store);
        Assert.Equal(7, vectors.Count); // the refused job was never half-accepted: exactly the 7 accepted items
    }

    [Fact]
    public async Task Gateway_InvalidRequests_Get400WithPreciseProblems_OversizeGets413_NothingIsPublished()
    {
        using var world = await fixture.NewWorldAsync();
        var uri = await UploadPhotoAsync(world);
        await using var gateway = await StartGatewayAsync(Config(world, new() { ["IngestFleet:Gateway:MaxRequestBytes"] = "4096" }));
        using var http = new HttpClient { BaseAddress = gateway.BoundAddress() };

        using var notJsonBody = new StringContent("{not json", Encoding.UTF8, "application/json");
        var notJson = await http.PostAsync(new Uri("/v1/jobs", UriKind.Relative), notJsonBody);
        Assert.Equal(HttpStatusCode.BadRequest, notJson.StatusCode);
        Assert.Contains("not valid JSON", await notJson.Content.ReadAsStringAsync());

        var bad = await http.PostAsJsonAsync("/v1/jobs", new object[]
        {
            Job(uri, "ok-1"),
            new { tenant = "acme", shard = "s1", item_id = "x", image = "ftp://example.com/a.jpg", priority = "urgent" },
            new { tenant = "../etc", shard = "s1", item_id = "y", image = uri, priority = "online" },
            new { tenant = (string?)null, shard = "s1", item_id = "z", image = uri, priority = (string?)null },
        });
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        using (var problem = JsonDocument.Parse(await bad.Content.ReadAsStringAsync()))
        {
            var errors = problem.RootElement.GetProperty("errors");
            Assert.False(errors.TryGetProperty("jobs[0]", out _));
            var second = string.Join(" ", errors.GetProperty("jobs[1]").EnumerateArray().Select(e => e.GetString()));
            Assert.Contains("priority", second);
            Assert.Contains("image", second);
            Assert.Contains("tenant", string.Join(" ", errors.GetProperty("jobs[2]").EnumerateArray().Select(e => e.GetString())));
            var nulls = string.Join(" ", errors.GetProperty("jobs[3]").EnumerateArray().Select(e => e.GetString()));
            Assert.Contains("tenant", nulls);
            Assert.Contains("priority", nulls);
            Assert.Contains("nothing was accepted", problem.RootElement.GetProperty("title").GetString());
        }

        using var bigBody = new StringContent(JsonSerializer.Serialize(Enumerable.Range(0, 200).Select(i => Job(uri, $"big-{i}"))), Encoding.UTF8, "application/json");
        var big = await http.PostAsync(new Uri("/v1/jobs", UriKind.Relative), bigBody);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, big.StatusCode);

        using (var limits = JsonDocument.Parse(await http.GetStringAsync(new Uri("/v1/limits", UriKind.Relative))))
            Assert.All(limits.RootElement.GetProperty("queues").EnumerateArray(), q => Assert.Equal(0, q.GetProperty("current").GetProperty("depth").GetInt64()));
    }

    [Fact]
    public async Task Gateway_WithTheBrokerDown_Answers503WithRetryAfter()
    {
        using var world = await fixture.NewWorldAsync();
        var config = Config(world, new() { ["IngestFleet:RabbitMq:Uri"] = "amqp://guest:guest@127.0.0.1:1/", ["IngestFleet:RabbitMq:ManagementUri"] = "http://127.0.0.1:1" });
        await using var gateway = await StartGatewayAsync(config);
        using var http = new HttpClient { BaseAddress = gateway.BoundAddress() };
        var down = await http.PostAsJsonAsync("/v1/jobs", Job($"s3://{world.Bucket}/images/a.jpg", "d1"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, down.StatusCode);
        Assert.NotNull(down.Headers.RetryAfter);
        Assert.Contains("cannot reach RabbitMQ", await down.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.GetAsync(new Uri("/healthz/ready", UriKind.Relative))).StatusCode);
    }

    [Fact]
    public async Task Shedding_ParksTheLowestRankedShardFirst_LeavesOnlineAlone_HasHysteresis_AndReplayEmbedsEveryJobOnce()
    {
        using var world = await fixture.NewWorldAsync();
        var uri = await UploadPhotoAsync(world);
        var lines = Enumerable.Range(0, 10).Select(i => Job(uri, $"on-{i}", "online", "live"))
            .Concat(Enumerable.Range(0, 30).Select(i => Job(uri, $"cat-{i}", "bulk", "catalog")))
            .Concat(Enumerable.Range(0, 30).Select(i => Job(uri, $"bf-{i}", "bulk", "backfill-2019")));
        var catalog = Path.Combine(Path.GetTempPath(), $"shed-{Guid.NewGuid():N}.jsonl");
        await File.WriteAllLinesAsync(catalog, lines.Select(l => JsonSerializer.Serialize(l)));
        var published = CliRunner.RunWith(world.Settings(), "publish", catalog); // raw JSON with confirms, the one wire format
        Assert.True(published.ExitCode == 0, published.Stderr + published.Stdout);

        var fleet = world.Fleet();
        var limits = new LimitsOptions
        {
            Queues = { ["bulk"] = new QueueLimitSettings { MaxDepth = 40, ResumeDepth = 20 } },
            ShardRanks = { ["backfill-*"] = 5 },
        };
        Assert.Empty(PublishedLimits.Validate(fleet, limits));
        var rabbit = new RabbitMqOptions { Uri = fixture.RabbitUri, ManagementUri = fixture.ManagementUri };
        await using var broker = new BrokerLink(rabbit, "test-shedder");
        using var monitor = new QueueMonitor(broker, rabbit, fleet, limits, TimeProvider.System, NullLogger<QueueMonitor>.Instance);
        await using var shedder = new Shedder(broker, monitor, world.Store, fleet, limits, "clip-tiny-r1", TimeProvider.System, NullLogger<Shedder>.Instance);

        var shedPerShard = new System.Collections.Concurrent.ConcurrentDictionary<string, long>();
        IReadOnlyList<ShedPass> passes;
        using (var listener = new System.Diagnostics.Metrics.MeterListener())
        {
            listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == "IngestFleet" && instrument.Name == "ingestfleet.shed.items") l.EnableMeasurementEvents(instrument);
            };
            listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                string? queue = null, shard = null;
                foreach (var t in tags)
                {
                    if (t.Key == "messaging.destination.name") queue = t.Value as string;
                    if (t.Key == "shard") shard = t.Value as string;
                }
                if (queue == fleet.QueueName("bulk") && shard is not null) shedPerShard.AddOrUpdate(shard, value, (_, v) => v + value);
            });
            listener.Start();
            passes = await shedder.RunOnceAsync(CancellationToken.None);
        }
        Assert.Equal(30, shedPerShard["backfill-2019"]); // the shed counter, per shard
        Assert.Equal(10, shedPerShard["catalog"]);
        var pass = Assert.Single(passes);
        Assert.Equal(fleet.QueueName("bulk"), pass.Queue);
        Assert.Equal(60, pass.DepthBefore);
        Assert.Equal(40, pass.Parked);
        Assert.Equal(30, pass.ParkedPerShard["backfill-2019"]); // the lowest-ranked shard went first, all of it
        Assert.Equal(10, pass.ParkedPerShard["catalog"]);
        Assert.Equal(20, pass.DepthAfter);

        var depth = await monitor.GetAsync(CancellationToken.None, fresh: true);
        Assert.Equal(10, depth.Queues["online"].Depth); // higher-priority queue untouched
        Assert.Equal(20, depth.Queues["bulk"].Depth);

        // The same depths are exported as metrics (observable gauges over the last sample).
        var gauges = new Dictionary<string, long>();
        using (var listener = new System.Diagnostics.Metrics.MeterListener())
        {
            listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == "IngestFleet" && instrument.Name == "ingestfleet.queue.depth") l.EnableMeasurementEvents(instrument);
            };
            listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                foreach (var t in tags)
                    if (t.Key == "messaging.destination.name" && t.Value is string q && q.StartsWith(world.QueuePrefix, StringComparison.Ordinal))
                        gauges[q] = value;
            });
            listener.Start();
            listener.RecordObservableInstruments();
        }
        Assert.Equal(20, gauges[fleet.QueueName("bulk")]);
        Assert.Equal(10, gauges[fleet.QueueName("online")]);
        var shed = await KeysAsync(world, StorageKeys.ShedRoot + "/");
        Assert.Equal(40, shed.Count);
        Assert.Equal(30, shed.Count(k => k.StartsWith("shed/acme/clip-tiny-r1/backfill-2019/", StringComparison.Ordinal)));
        var record = DeadLetterRecord.FromJson((await world.Store.GetAsync(shed.First(), CancellationToken.None))!);
        Assert.Equal("shed", record.Reason);
        Assert.Contains("max depth 40", record.Detail);

        // Hysteresis: back under resume depth, then up to 35 (between resume 20 and max 40): nothing is shed.
        Assert.Empty(await shedder.RunOnceAsync(CancellationToken.None));
        var more = Path.Combine(Path.GetTempPath(), $"shed-more-{Guid.NewGuid():N}.jsonl");
        await File.WriteAllLinesAsync(more, Enumerable.Range(0, 15).Select(i => JsonSerializer.Serialize(Job(uri, $"late-{i}", "bulk", "catalog"))));
        Assert.Equal(0, CliRunner.RunWith(world.Settings(), "publish", more).ExitCode);
        Assert.Empty(await shedder.RunOnceAsync(CancellationToken.None));
        Assert.Equal(40, (await KeysAsync(world, StorageKeys.ShedRoot + "/")).Count);

        await using (var worker = await WorkerHost.StartAsync(world, extra: new() { ["IngestFleet:Limits:ShedEnabled"] = "false" }))
        {
            await worker.WaitForItemsAsync(45, TimeSpan.FromMinutes(2));
            var replay = CliRunner.RunWith(world.Settings(), "replay", "shed/");
            Assert.True(replay.ExitCode == 0, replay.Stderr + replay.Stdout);
            Assert.Contains("40 parked jobs", replay.Stdout);
            await worker.WaitForItemsAsync(85, TimeSpan.FromMinutes(2));
            Assert.Equal(0, worker.Ledger.AlreadyPresent + worker.Ledger.DeadLettered);
        }
        var vectors = await VectorView.ItemsAsync(world.Store);
        Assert.Equal(85, vectors.Count); // 10 online + 75 bulk, each exactly once
        Assert.Empty(await KeysAsync(world, StorageKeys.DeadLetterRoot + "/"));
        var again = CliRunner.RunWith(world.Settings(), "replay", "shed/");
        Assert.Contains("40 already replayed", again.Stdout);
    }

    [Fact]
    public async Task AWorkerWithShedEnabledFalse_NeverSheds_WhileOneWithTheDefaultDoes()
    {
        using var world = await fixture.NewWorldAsync();
        var uri = await UploadPhotoAsync(world);
        var catalog = Path.Combine(Path.GetTempPath(), $"noshed-{Guid.NewGuid():N}.jsonl");
        await File.WriteAllLinesAsync(catalog, Enumerable.Range(0, 30).Select(i => JsonSerializer.Serialize(Job(uri, $"bulk-{i}", "bulk", "catalog"))));
        var published = CliRunner.RunWith(world.Settings(), "publish", catalog);
        Assert.True(published.ExitCode == 0, published.Stderr + published.Stdout);
        // Bulk is over its max depth; the workers consume only online, so only a shedder can lower the bulk depth.
        var settings = new Dictionary<string, string?>
        {
            ["IngestFleet:Limits:Queues:bulk:MaxDepth"] = "10", ["IngestFleet:Limits:Queues:bulk:ResumeDepth"] = "5",
            ["IngestFleet:Limits:ShedIntervalSeconds"] = "0.5", ["IngestFleet:Fleet:Consume:0"] = "online",
        };
        var rabbit = new RabbitMqOptions { Uri = fixture.RabbitUri, ManagementUri = fixture.ManagementUri };
        await using var link = new BrokerLink(rabbit, "test-noshed");
        using var monitor = new QueueMonitor(link, rabbit, world.Fleet(), new LimitsOptions(), TimeProvider.System, NullLogger<QueueMonitor>.Instance);

        await using (var worker = await WorkerHost.StartAsync(world, extra: new(settings) { ["IngestFleet:Limits:ShedEnabled"] = "false" }))
        {
            var loop = worker.Services.GetServices<Microsoft.Extensions.Hosting.IHostedService>().OfType<ShedLoop>().Single();
            Assert.True(loop.ExecuteTask?.IsCompletedSuccessfully, "the shed loop of a worker with ShedEnabled=false must not run");
            await Task.Delay(TimeSpan.FromSeconds(3)); // six shed intervals
            Assert.Empty(await KeysAsync(world, StorageKeys.ShedRoot + "/"));
            Assert.Equal(30, (await monitor.GetAsync(CancellationToken.None, fresh: true)).Queues["bulk"].Depth);
        }
        await using (var worker = await WorkerHost.StartAsync(world, extra: settings)) // ShedEnabled by default
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while ((await KeysAsync(world, StorageKeys.ShedRoot + "/")).Count < 25 && DateTime.UtcNow < deadline) await Task.Delay(250);
            Assert.Equal(25, (await KeysAsync(world, StorageKeys.ShedRoot + "/")).Count); // down to the resume depth of 5
        }
    }

    [Fact]
    public async Task OnlyOneShedderPerFleet_HoldsTheLock_AndAnotherTakesOverWhenItGoes()
    {
        using var world = await fixture.NewWorldAsync();
        var fleet = world.Fleet();
        var rabbit = new RabbitMqOptions { Uri = fixture.RabbitUri, ManagementUri = fixture.ManagementUri };
        var monitors = new List<QueueMonitor>();
        Shedder NewShedder(BrokerLink link)
        {
            var monitor = new QueueMonitor(link, rabbit, fleet, new LimitsOptions(), TimeProvider.System, NullLogger<QueueMonitor>.Instance);
            monitors.Add(monitor);
            return new(link, monitor, world.Store, fleet, new LimitsOptions(), "clip-tiny-r1", TimeProvider.System, NullLogger<Shedder>.Instance);
        }
        var firstLink = new BrokerLink(rabbit, "shedder-1");
        await using var secondLink = new BrokerLink(rabbit, "shedder-2");
        await using var first = NewShedder(firstLink);
        await using var second = NewShedder(secondLink);
        Assert.True(await first.HoldsLeadershipAsync(CancellationToken.None));
        Assert.False(await second.HoldsLeadershipAsync(CancellationToken.None));
        await firstLink.DisposeAsync(); // the holder's connection goes (worker stopped or died)
        var deadline = DateTime.UtcNow.AddSeconds(10);
        var taken = false;
        while (!taken && DateTime.UtcNow < deadline)
        {
            taken = await second.HoldsLeadershipAsync(CancellationToken.None);
            if (!taken) await Task.Delay(200);
        }
        foreach (var monitor in monitors) monitor.Dispose();
        Assert.True(taken);
    }

    /// <summary>A request body that sends its first bytes, then waits until released.</summary>
    private sealed class HeldContent(string json, Task release) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
        {
            var bytes = Encoding.UTF8.GetBytes(json);
            await stream.WriteAsync(bytes.AsMemory(0, 1));
            await stream.FlushAsync();
            await release;
            await stream.WriteAsync(bytes.AsMemory(1));
        }

        protected override bool TryComputeLength(out long length)
        {
            length = -1;
            return false;
        }
    }

    [Fact]
    public async Task Gateway_AtItsConcurrentRequestLimit_Answers503AtOnce_WithoutQueueing()
    {
        using var world = await fixture.NewWorldAsync();
        await using var gateway = await StartGatewayAsync(Config(world, new() { ["IngestFleet:Gateway:MaxConcurrentRequests"] = "1" }));
        using var http = new HttpClient { BaseAddress = gateway.BoundAddress() };
        var uri = $"s3://{world.Bucket}/images/a.jpg";
        var release = new TaskCompletionSource();
        using var heldBody = new HeldContent(JsonSerializer.Serialize(Job(uri, "held")), release.Task) { Headers = { ContentType = new("application/json") } };
#pragma warning disable CA2025 // held is awaited below, before heldBody goes out of scope
        var held = http.PostAsync(new Uri("/v1/jobs", UriKind.Relative), heldBody);
#pragma warning restore CA2025
        // The held request owns the only slot while its body trickles in (a poll for that state, not a timing).
        var slots = gateway.Services.GetRequiredService<IngestFleet.Gateway.Security.RequestSlots>();
        for (var i = 0; i < 600 && slots.InFlightTotal < 1; i++) await Task.Delay(50);
        Assert.Equal(1, slots.InFlightTotal);
        var refused = await http.PostAsJsonAsync("/v1/jobs", Job(uri, "second"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(1), refused.Headers.RetryAfter?.Delta);
        Assert.Contains("concurrent-request limit", await refused.Content.ReadAsStringAsync());
        release.SetResult();
        Assert.Equal(HttpStatusCode.Accepted, (await held).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await http.PostAsJsonAsync("/v1/jobs", Job(uri, "third"))).StatusCode);
    }
}
