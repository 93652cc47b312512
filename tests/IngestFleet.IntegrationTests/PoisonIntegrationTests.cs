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
            if (await channel.BasicGetAsync(bulk, autoAck: false) is { } got) await channel.BasicNackAsync(got.DeliveryTag, multiple: false, requeue: true);
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
}
