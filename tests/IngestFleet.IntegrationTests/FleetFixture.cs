using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Containers;
using IngestFleet.Storage.S3;
using IngestFleet.Worker;
using IngestFleet.Messaging;
using RabbitMQ.Client;
using Testcontainers.RabbitMq;

namespace IngestFleet.IntegrationTests;

/// <summary>
/// Real RabbitMQ and a real S3 API server. Endpoints come from INGESTFLEET_TEST_RABBITMQ,
/// INGESTFLEET_TEST_RABBITMQ_MANAGEMENT and INGESTFLEET_TEST_S3 (tests/run.sh starts local ones and sets them);
/// without them the fixture starts containers through Testcontainers when a Docker engine answers, and otherwise
/// fails with a message naming both options. Each test gets its own queue prefix and bucket.
/// </summary>
public sealed class FleetFixture : IAsyncLifetime
{
    private RabbitMqContainer? _rabbitContainer;
    private IContainer? _s3Container;

    public string RabbitUri { get; private set; } = "";
    public string ManagementUri { get; private set; } = "";
    public string S3Endpoint { get; private set; } = "";
    public string S3AccessKey { get; private set; } = "S3RVER";
    public string S3SecretKey { get; private set; } = "S3RVER";

    public async Task InitializeAsync()
    {
        var rabbit = Environment.GetEnvironmentVariable("INGESTFLEET_TEST_RABBITMQ");
        var s3 = Environment.GetEnvironmentVariable("INGESTFLEET_TEST_S3");
        if (!string.IsNullOrEmpty(rabbit) && !string.IsNullOrEmpty(s3))
        {
            RabbitUri = rabbit;
            ManagementUri = Environment.GetEnvironmentVariable("INGESTFLEET_TEST_RABBITMQ_MANAGEMENT") ?? "http://127.0.0.1:15672";
            S3Endpoint = s3;
            // The default prefix's poison queue, which tests that use the default prefix declare: a broker reused across
            // test runs may hold it as an older build declared it (without a delivery limit), which would be refused.
            await DeleteDeclaredAsync(name => name is "ingestfleet-poison" or "ingestfleet-poison-overflow");
            return;
        }
        try
        {
            _rabbitContainer = new RabbitMqBuilder("rabbitmq:3.13-management").WithUsername("guest").WithPassword("guest").WithPortBinding(15672, true).Build();
            _s3Container = new ContainerBuilder("minio/minio:latest").WithCommand("server", "/data").WithPortBinding(9000, true)
                .WithEnvironment("MINIO_ROOT_USER", "minioadmin").WithEnvironment("MINIO_ROOT_PASSWORD", "minioadmin")
                .WithWaitStrategy(Wait.ForUnixContainer().UntilHttpRequestIsSucceeded(r => r.ForPath("/minio/health/live").ForPort(9000))).Build();
            await Task.WhenAll(_rabbitContainer.StartAsync(), _s3Container.StartAsync());
        }
        catch (Exception e)
        {
            throw new InvalidOperationException(
                "Integration tests need RabbitMQ (with the management plugin) and an S3 API server. Either set INGESTFLEET_TEST_RABBITMQ, " +
                "INGESTFLEET_TEST_RABBITMQ_MANAGEMENT and INGESTFLEET_TEST_S3 (bash tests/run.sh installs and starts local ones and sets them), " +
                $"or run with a Docker engine so Testcontainers can start them. Docker said: {e.Message}", e);
        }
        RabbitUri = _rabbitContainer.GetConnectionString();
        ManagementUri = $"http://{_rabbitContainer.Hostname}:{_rabbitContainer.GetMappedPublicPort(15672)}";
        S3Endpoint = $"http://{_s3Container.Hostname}:{_s3Container.GetMappedPublicPort(9000)}";
        S3AccessKey = S3SecretKey = "minioadmin";
    }

    public async Task DisposeAsync()
    {
        // What MassTransit declares for the fault events of our contract (shared by every worker the tests started).
        await DeleteDeclaredAsync(name => name.StartsWith("MassTransit:Fault", StringComparison.Ordinal));
        if (_rabbitContainer is not null) await _rabbitContainer.DisposeAsync();
        if (_s3Container is not null) await _s3Container.DisposeAsync();
    }

    /// <summary>Deletes the queues and exchanges whose names match (read from the management API, deleted over AMQP);
    /// best effort: a test that stopped the broker leaves its own behind.</summary>
    public async Task DeleteDeclaredAsync(Func<string, bool> match)
    {
        try
        {
            var uri = new Uri(RabbitUri);
            var user = Uri.UnescapeDataString(uri.UserInfo);
            using var http = new HttpClient { BaseAddress = new Uri(ManagementUri.TrimEnd('/') + "/"), Timeout = TimeSpan.FromSeconds(10) };
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(user.Length > 0 ? user : "guest:guest")));
            async Task<List<string>> Names(string path)
            {
                using var doc = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync(new Uri(path, UriKind.Relative)));
                return doc.RootElement.EnumerateArray().Select(e => e.GetProperty("name").GetString() ?? "").Where(n => n.Length > 0 && match(n)).ToList();
            }
            var queues = await Names("api/queues/%2F?columns=name");
            var exchanges = await Names("api/exchanges/%2F?columns=name");
            var factory = new ConnectionFactory { Uri = uri };
            await using var connection = await factory.CreateConnectionAsync();
            await using var channel = await connection.CreateChannelAsync();
            foreach (var q in queues) await channel.QueueDeleteAsync(q, ifUnused: false, ifEmpty: false);
            foreach (var x in exchanges) await channel.ExchangeDeleteAsync(x, ifUnused: false);
        }
#pragma warning disable CA1031 // clean-up is best effort whatever failed
        catch (Exception)
#pragma warning restore CA1031
        {
            // best effort
        }
    }

    /// <summary>A fresh test world: its own queues (by prefix) and bucket.</summary>
    public async Task<FleetWorld> NewWorldAsync()
    {
        var id = Guid.NewGuid().ToString("N")[..10];
        var world = new FleetWorld(this, $"it-{id}-", $"it-{id}");
        await world.Store.ProbeAsync(CancellationToken.None); // creates the bucket
        return world;
    }
}

[CollectionDefinition(Name)]
public sealed class FleetTests : ICollectionFixture<FleetFixture>
{
    public const string Name = "fleet";
}

/// <summary>One test's queues, bucket and the settings that point a worker or the CLI at them.</summary>
public sealed class FleetWorld(FleetFixture fixture, string queuePrefix, string bucket) : IDisposable
{
    public string QueuePrefix { get; } = queuePrefix;
    public string Bucket { get; } = bucket;
    public FleetFixture Fixture { get; } = fixture;

    public S3Options S3 => new()
    {
        ServiceUrl = Fixture.S3Endpoint, Bucket = Bucket, AccessKey = Fixture.S3AccessKey, SecretKey = Fixture.S3SecretKey, CreateBucket = true,
        ListObjectsVersion = 1,
    };

    public S3ObjectStore Store { get; } = new(new S3Options
    {
        ServiceUrl = fixture.S3Endpoint, Bucket = bucket, AccessKey = fixture.S3AccessKey, SecretKey = fixture.S3SecretKey, CreateBucket = true,
        ListObjectsVersion = 1, // s3rver's ListObjectsV2 fails past 1,000 keys
    });

    public FleetOptions Fleet(int batch = 16) => new() { QueuePrefix = QueuePrefix, BatchSize = batch };

    /// <summary>Configuration keys (as environment variables for the CLI, or in-memory for a hosted worker).</summary>
    public Dictionary<string, string> Settings(int batch = 16) => new()
    {
        ["IngestFleet__RabbitMq__Uri"] = Fixture.RabbitUri,
        ["IngestFleet__RabbitMq__ManagementUri"] = Fixture.ManagementUri,
        ["IngestFleet__S3__ServiceUrl"] = Fixture.S3Endpoint,
        ["IngestFleet__S3__Bucket"] = Bucket,
        ["IngestFleet__S3__AccessKey"] = Fixture.S3AccessKey,
        ["IngestFleet__S3__SecretKey"] = Fixture.S3SecretKey,
        ["IngestFleet__S3__CreateBucket"] = "true",
        ["IngestFleet__S3__ListObjectsVersion"] = "1",
        ["IngestFleet__Fleet__QueuePrefix"] = QueuePrefix,
        ["IngestFleet__Fleet__BatchSize"] = batch.ToString(),
        ["IngestFleet__Embedder__ExecutionProvider"] = "cpu",
        ["IngestFleet__Embedder__IntraOpThreads"] = "2",
        // These worlds test the pipeline, with many tenants reading the world's bucket: the explicit opt-out from the
        // allow-list a fleet worker otherwise requires (the tenancy tests set S3Sources, which is then enforced).
        ["IngestFleet__SourcePolicy__RequireAllowList"] = "false",
    };

    /// <summary>Deletes every queue and exchange whose name starts with this world's prefix (its priority queues, poison,
    /// <c>_error</c>/<c>_skipped</c>, the shed lock, a soak's own prefix): the broker is shared by every test and every run.</summary>
    public void Dispose()
    {
        Store.Dispose();
        Task.Run(() => Fixture.DeleteDeclaredAsync(name => name.StartsWith(QueuePrefix, StringComparison.Ordinal))).GetAwaiter().GetResult();
    }
}
