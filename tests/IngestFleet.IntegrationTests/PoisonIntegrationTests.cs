using System.Text;
using IngestFleet.Contracts;
using IngestFleet.Messaging;
using IngestFleet.Messaging.Broker;
using IngestFleet.Messaging.Poison;
using IngestFleet.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using RabbitMQ.Client;

namespace IngestFleet.IntegrationTests;

/// <summary>Nothing is deleted by the broker: a message redelivered past the delivery limit goes to the poison queue,
/// and MassTransit's _error queue is drained too; both become dead-letter records (real RabbitMQ and S3 server).</summary>
[Collection(FleetTests.Name)]
public sealed class PoisonIntegrationTests(FleetFixture fixture)
{
    [Fact]
    public async Task AMessagePastTheDeliveryLimit_AndOneInAnErrorQueue_BecomeDeadLetterRecords()
    {
        using var world = await fixture.NewWorldAsync();
        var fleet = world.Fleet();
        fleet.DeliveryLimit = 1;
        var rabbit = new RabbitMqOptions { Uri = fixture.RabbitUri, ManagementUri = fixture.ManagementUri };
        await FleetTopology.DeclareAsync(rabbit, fleet, CancellationToken.None);
        var job = new EmbedCatalogImage { Tenant = "t", Shard = "s", ItemId = "crashes-every-worker", Image = $"s3://{world.Bucket}/x.jpg", Priority = "bulk" };

        var factory = new ConnectionFactory { Uri = new Uri(fixture.RabbitUri) };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var bulk = fleet.QueueName("bulk");
        await channel.BasicPublishAsync("", bulk, mandatory: true, new BasicProperties { Persistent = true, ContentType = JobJson.ContentType }, JobJson.Serialize(job));
        // A worker that dies holding the message, again and again: the broker counts each return as a delivery, and past
        // the limit dead-letters it (asynchronously: a quorum queue returns and dead-letters through its log).
        var poisonQueue = FleetTopology.PoisonName(fleet);
        var until = DateTime.UtcNow.AddSeconds(20);
        while ((await channel.QueueDeclarePassiveAsync(poisonQueue)).MessageCount == 0 && DateTime.UtcNow < until)
        {
            if (await channel.BasicGetAsync(bulk, autoAck: false) is { } got) await channel.BasicRejectAsync(got.DeliveryTag, requeue: true);
            else await Task.Delay(100);
        }
        Assert.Equal(1u, (await channel.QueueDeclarePassiveAsync(poisonQueue)).MessageCount);
        Assert.Equal(0u, (await channel.QueueDeclarePassiveAsync(bulk)).MessageCount);

        // Something MassTransit left in an error queue, not even a job.
        var error = bulk + "_error";
        await channel.QueueDeclareAsync(error, durable: true, exclusive: false, autoDelete: false);
        var headers = new Dictionary<string, object?> { ["MT-Fault-Message"] = Encoding.UTF8.GetBytes("boom"), ["MT-Fault-ExceptionType"] = Encoding.UTF8.GetBytes("System.InvalidOperationException") };
        await channel.BasicPublishAsync("", error, mandatory: true, new BasicProperties { Persistent = true, MessageId = "mt-1", Headers = headers }, "{not json"u8.ToArray());

        await using var link = new BrokerLink(rabbit, "test-poison");
        using var drain = new PoisonDrain(link, world.Store, fleet, "clip-tiny-r1", TimeProvider.System, NullLogger<PoisonDrain>.Instance);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        var recorded = 0;
        while (recorded < 2 && DateTime.UtcNow < deadline)
        {
            recorded += await drain.DrainOnceAsync(CancellationToken.None);
            if (recorded < 2) await Task.Delay(250); // at-least-once dead-lettering is asynchronous
        }
        Assert.Equal(2, recorded);

        var poison = DeadLetterRecord.FromJson((await world.Store.GetAsync(StorageKeys.DeadLetter(job, "clip-tiny-r1"), CancellationToken.None))!);
        Assert.Equal(ReasonCodes.Poison, poison.Reason);
        Assert.Equal(job.ItemId, poison.Job.ItemId);
        Assert.True(poison.Attempts >= 1);
        Assert.Contains("past the delivery limit", poison.Detail, StringComparison.Ordinal);

        var fault = DeadLetterRecord.FromJson((await world.Store.GetAsync(StorageKeys.DeadLetter("_invalid", "clip-tiny-r1", "_poison", "mt-1"), CancellationToken.None))!);
        Assert.Contains("fault: boom (System.InvalidOperationException)", fault.Detail, StringComparison.Ordinal);
        Assert.Contains("{not json", fault.Detail, StringComparison.Ordinal);

        Assert.Equal(0u, (await channel.QueueDeclarePassiveAsync(poisonQueue)).MessageCount);
        Assert.Equal(0u, (await channel.QueueDeclarePassiveAsync(error)).MessageCount);
        await channel.QueueDeleteAsync(error);
    }

    /// <summary>The poison queue never drops: it is declared with an explicit delivery limit and a dead-letter target of
    /// its own (RabbitMQ 4.x drops past a quorum queue's default limit of 20 otherwise). A message the drain keeps
    /// returning (it cannot record it) moves to the classic overflow queue, which the drain reads too.</summary>
    [Fact]
    public async Task AMessageThePoisonDrainKeepsReturning_MovesToTheOverflowQueue_AndIsRecordedFromThere()
    {
        using var world = await fixture.NewWorldAsync();
        var fleet = world.Fleet();
        fleet.PoisonDeliveryLimit = 2;
        var rabbit = new RabbitMqOptions { Uri = fixture.RabbitUri, ManagementUri = fixture.ManagementUri };
        await FleetTopology.DeclareAsync(rabbit, fleet, CancellationToken.None);

        // The broker holds the poison queue with an explicit limit and target (read back through the management API).
        using (var http = new HttpClient())
        {
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic", Convert.ToBase64String("guest:guest"u8.ToArray()));
            var vhost = Uri.EscapeDataString(new Uri(fixture.RabbitUri).AbsolutePath.TrimStart('/') is { Length: > 0 } v ? v : "/");
            using var doc = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync(new Uri($"{fixture.ManagementUri.TrimEnd('/')}/api/queues/{vhost}/{FleetTopology.PoisonName(fleet)}")));
            var args = doc.RootElement.GetProperty("arguments");
            Assert.Equal(2, args.GetProperty("x-delivery-limit").GetInt32());
            Assert.Equal(FleetTopology.PoisonOverflowName(fleet), args.GetProperty("x-dead-letter-exchange").GetString());
        }

        var job = new EmbedCatalogImage { Tenant = "t", Shard = "s", ItemId = "returned-by-the-drain", Image = $"s3://{world.Bucket}/x.jpg", Priority = "bulk" };
        var factory = new ConnectionFactory { Uri = new Uri(fixture.RabbitUri) };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var poison = FleetTopology.PoisonName(fleet);
        var overflow = FleetTopology.PoisonOverflowName(fleet);
        await channel.BasicPublishAsync(poison, "", mandatory: true, new BasicProperties { Persistent = true, ContentType = JobJson.ContentType }, JobJson.Serialize(job));
        // A drain that cannot record returns the message (nack, requeue) again and again: past the limit it moves on.
        var until = DateTime.UtcNow.AddSeconds(20);
        while ((await channel.QueueDeclarePassiveAsync(overflow)).MessageCount == 0 && DateTime.UtcNow < until)
        {
            if (await channel.BasicGetAsync(poison, autoAck: false) is { } got) await channel.BasicRejectAsync(got.DeliveryTag, requeue: true);
            else await Task.Delay(100);
        }
        Assert.Equal(1u, (await channel.QueueDeclarePassiveAsync(overflow)).MessageCount);
        Assert.Equal(0u, (await channel.QueueDeclarePassiveAsync(poison)).MessageCount);

        await using var link = new BrokerLink(rabbit, "test-poison-overflow");
        using var drain = new PoisonDrain(link, world.Store, fleet, "clip-tiny-r1", TimeProvider.System, NullLogger<PoisonDrain>.Instance);
        Assert.Equal(1, await drain.DrainOnceAsync(CancellationToken.None));
        var record = DeadLetterRecord.FromJson((await world.Store.GetAsync(StorageKeys.DeadLetter(job, "clip-tiny-r1"), CancellationToken.None))!);
        Assert.Equal(ReasonCodes.Poison, record.Reason);
        Assert.Equal(0u, (await channel.QueueDeclarePassiveAsync(overflow)).MessageCount);
        Assert.Equal(0, drain.ConsecutiveFailures);
    }
}
