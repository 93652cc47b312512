using IngestFleet.Messaging;
using IngestFleet.Messaging.Broker;

namespace IngestFleet.IntegrationTests.Broker;

/// <summary>Queues declared by a build before the replica count was explicit: RabbitMQ refuses a declaration that adds
/// <c>x-quorum-initial-group-size</c> to an existing queue (406, inequivalent arg), so the fleet says what to do instead
/// of failing with the broker's text alone, and <c>QuorumInitialGroupSize = 0</c> declares them as they are.</summary>
[Collection(FleetTests.Name)]
public sealed class QueueUpgradeTests(FleetFixture fixture)
{
    [Fact]
    public async Task QueuesDeclaredWithoutTheReplicaCount_StopStartUpWithTheWayOut_AndZeroKeepsThem()
    {
        using var world = await fixture.NewWorldAsync();
        var rabbit = new RabbitMqOptions { Uri = fixture.RabbitUri, ManagementUri = fixture.ManagementUri };
        var earlier = world.Fleet();
        earlier.QuorumInitialGroupSize = 0; // the arguments of the builds before issue 24
        await FleetTopology.DeclareAsync(rabbit, earlier, CancellationToken.None);

        var now = world.Fleet(); // the default: 3
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => FleetTopology.DeclareAsync(rabbit, now, CancellationToken.None));
        Assert.Contains(FleetTopology.PoisonName(now), e.Message, StringComparison.Ordinal); // declared first
        Assert.Contains("QuorumInitialGroupSize", e.Message, StringComparison.Ordinal);
        Assert.Contains("rabbitmq-queues grow", e.Message, StringComparison.Ordinal);
        Assert.Contains("inequivalent arg 'x-quorum-initial-group-size'", e.InnerException!.Message, StringComparison.Ordinal);

        now.QuorumInitialGroupSize = 0;
        await FleetTopology.DeclareAsync(rabbit, now, CancellationToken.None);
    }
}
