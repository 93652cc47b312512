using IngestFleet.Contracts;
using IngestFleet.Messaging;
using IngestFleet.Messaging.Broker;
using IngestFleet.Messaging.Limits;
using IngestFleet.Messaging.Publishing;
using IngestFleet.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using RabbitMQ.Client.Exceptions;

namespace IngestFleet.IntegrationTests.Broker;

/// <summary>
/// Issue 24, point 3: <c>amqps://</c> and the management API over https against a TLS-only RabbitMQ node whose CA and
/// certificates the test made (<see cref="TlsBroker"/>). With the broker's CA and a client certificate a real worker
/// consumes and embeds over TLS; every wrong setting is refused with its reason, never accepted.
/// </summary>
[Collection(FleetTests.Name)]
public sealed class TlsBrokerTests(FleetFixture fixture, TlsBroker broker) : IClassFixture<TlsBroker>
{
    private static readonly string Photo = Path.Combine(AppContext.BaseDirectory, "data", "photos", "astronaut.jpg");

    private RabbitMqOptions Options(string? ca, bool clientCertificate = true, string? serverName = null) => new()
    {
        Uri = TlsBroker.AmqpsUri,
        ManagementUri = TlsBroker.ManagementUri,
        Tls = new RabbitMqTlsOptions
        {
            CaFile = ca,
            ClientCertificateFile = clientCertificate ? broker.ClientCertificateFile : null,
            ClientKeyFile = clientCertificate ? broker.ClientKeyFile : null,
            ServerName = serverName,
        },
    };

    private static QueueMonitor Monitor(BrokerLink link, RabbitMqOptions rabbit, FleetOptions fleet) =>
        new(link, rabbit, fleet, new LimitsOptions(), TimeProvider.System, NullLogger<QueueMonitor>.Instance);

    [Fact]
    public async Task WithTheBrokersCa_AWorkerEmbedsJobsPublishedOverTls_AndTheManagementApiAnswersOverHttps()
    {
        using var world = await fixture.NewWorldAsync();
        var rabbit = Options(broker.CaFile);
        var fleet = world.Fleet(4);
        await FleetTopology.DeclareAsync(rabbit, fleet, CancellationToken.None);
        await world.Store.PutAsync("images/astronaut.jpg", await File.ReadAllBytesAsync(Photo), "image/jpeg", CancellationToken.None);
        await using var worker = await WorkerHost.StartAsync(world, batch: 4, extra: new()
        {
            ["IngestFleet:RabbitMq:Uri"] = TlsBroker.AmqpsUri,
            ["IngestFleet:RabbitMq:ManagementUri"] = TlsBroker.ManagementUri,
            ["IngestFleet:RabbitMq:Tls:CaFile"] = broker.CaFile,
            ["IngestFleet:RabbitMq:Tls:ClientCertificateFile"] = broker.ClientCertificateFile,
            ["IngestFleet:RabbitMq:Tls:ClientKeyFile"] = broker.ClientKeyFile,
        });

        await using var link = new BrokerLink(rabbit, "test-tls");
        var jobs = Enumerable.Range(0, 4).Select(i => new EmbedCatalogImage
        {
            Tenant = "acme", Shard = "s1", ItemId = $"tls-{i}", Image = $"s3://{world.Bucket}/images/astronaut.jpg", Priority = "normal",
        }).ToList();
        var published = await new JobPublisher(link, rabbit, fleet, TimeProvider.System).PublishAsync(jobs, null, CancellationToken.None);
        Assert.Empty(published.Failed);
        await worker.WaitForItemsAsync(jobs.Count, TimeSpan.FromMinutes(2));
        var vectors = new List<string>();
        await foreach (var key in world.Store.ListAsync(StorageKeys.VectorsRoot + "/", CancellationToken.None)) vectors.Add(key);
        Assert.NotEmpty(vectors);
        await foreach (var key in world.Store.ListAsync(StorageKeys.DeadLetterRoot + "/", CancellationToken.None)) Assert.Fail($"dead letter {key}");

        using var monitor = Monitor(link, rabbit, fleet);
        var snapshot = await monitor.GetAsync(CancellationToken.None, fresh: true);
        Assert.True(snapshot.BrokerReachable, snapshot.BrokerError);
        Assert.Null(monitor.ManagementProblem);
        Assert.Null(await monitor.ProbeManagementAsync(CancellationToken.None));
    }

    [Fact]
    public async Task AnotherCa_IsRefused_WithTheReason_ForAmqpAndTheManagementApi()
    {
        var rabbit = Options(broker.OtherCaFile);
        var refused = await Assert.ThrowsAsync<BrokerTlsException>(() => BrokerEndpoints.ConnectAsync(rabbit, "test-tls-wrong-ca", TimeSpan.FromSeconds(5), CancellationToken.None));
        Assert.Contains("does not chain to the CA", refused.Message, StringComparison.Ordinal);
        Assert.Contains(broker.OtherCaFile, refused.Message, StringComparison.Ordinal);

        // the worker's start-up check says the same
        var startup = await Assert.ThrowsAsync<IngestFleet.Worker.Hosting.FleetUnreachableException>(() => IngestFleet.Worker.Hosting.WorkerStartup.DeclareTopologyAsync(rabbit, new FleetOptions { QueuePrefix = "tls-never-" }, CancellationToken.None));
        Assert.Contains("does not chain to the CA", startup.Message, StringComparison.Ordinal);

        await using var link = new BrokerLink(rabbit, "test-tls-wrong-ca");
        using var monitor = Monitor(link, rabbit, new FleetOptions { QueuePrefix = "tls-never-" });
        var snapshot = await monitor.GetAsync(CancellationToken.None, fresh: true);
        Assert.False(snapshot.BrokerReachable);
        Assert.Contains("does not chain to the CA", snapshot.BrokerError, StringComparison.Ordinal);
        var management = await monitor.ProbeManagementAsync(CancellationToken.None);
        Assert.Contains("TLS refused", management, StringComparison.Ordinal);
        Assert.Contains("does not chain to the CA", management, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NoCaConfigured_ThisMachineDoesNotTrustTheTestCa_Refused()
    {
        var refused = await Assert.ThrowsAsync<BrokerTlsException>(() => BrokerEndpoints.ConnectAsync(Options(ca: null), "test-tls-no-ca", TimeSpan.FromSeconds(5), CancellationToken.None));
        Assert.Contains("not trusted by this machine", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ACertificateWithoutTheExpectedName_IsRefused()
    {
        var refused = await Assert.ThrowsAsync<BrokerTlsException>(() => BrokerEndpoints.ConnectAsync(Options(broker.CaFile, serverName: "broker.example.com"), "test-tls-name", TimeSpan.FromSeconds(5), CancellationToken.None));
        Assert.Contains("does not carry the name", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithoutAClientCertificate_TheBrokerRefusesTheConnection()
    {
        // The client trusts the server here; the server (fail_if_no_peer_cert) does not accept a client without one.
        await Assert.ThrowsAsync<BrokerUnreachableException>(() => BrokerEndpoints.ConnectAsync(Options(broker.CaFile, clientCertificate: false), "test-tls-no-client", TimeSpan.FromSeconds(5), CancellationToken.None));
        await using var connection = await BrokerEndpoints.ConnectAsync(Options(broker.CaFile), "test-tls-client", TimeSpan.FromSeconds(5), CancellationToken.None);
        Assert.True(connection.IsOpen);
    }
}
