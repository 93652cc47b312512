using System.Net;
using System.Net.Sockets;
using IngestFleet.Messaging;
using IngestFleet.Messaging.Broker;
using Microsoft.Extensions.Time.Testing;
using RabbitMQ.Client.Exceptions;

namespace IngestFleet.Tests.Messaging;

/// <summary>While no broker node answers, the link backs off (100 ms doubling to 2 s, on the link's clock) instead of
/// trying every node on every call; once the pause is over it tries again, and a node that answers again is used.</summary>
public sealed class BrokerLinkBackoffTests
{
    [Fact]
    public async Task FailedConnects_BackOff_ThenTryAgain()
    {
        // Nodes that refuse: ports nothing listens on (TestPorts hands out bindable, unused ports below the ephemeral range).
        var nodes = new[] { IngestFleet.Tests.TestPorts.Free(), IngestFleet.Tests.TestPorts.Free() };
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        var options = new RabbitMqOptions { Uri = "amqp://guest:guest@127.0.0.1:1/", ClusterNodes = [.. nodes.Select(p => $"127.0.0.1:{p}")] };
        await using var link = new BrokerLink(options, "test-backoff", time);

        await Assert.ThrowsAnyAsync<BrokerUnreachableException>(() => link.OpenChannelAsync(false, CancellationToken.None));
        Assert.Equal(1, link.ConnectAttempts);
        await Assert.ThrowsAnyAsync<BrokerUnreachableException>(() => link.OpenChannelAsync(false, CancellationToken.None));
        Assert.Equal(1, link.ConnectAttempts); // within the first 100 ms: no new attempt

        time.Advance(TimeSpan.FromMilliseconds(100));
        await Assert.ThrowsAnyAsync<BrokerUnreachableException>(() => link.OpenChannelAsync(false, CancellationToken.None));
        Assert.Equal(2, link.ConnectAttempts);
        time.Advance(TimeSpan.FromMilliseconds(150)); // the second pause is 200 ms
        await Assert.ThrowsAnyAsync<BrokerUnreachableException>(() => link.OpenChannelAsync(false, CancellationToken.None));
        Assert.Equal(2, link.ConnectAttempts);
        time.Advance(TimeSpan.FromMilliseconds(50));
        await Assert.ThrowsAnyAsync<BrokerUnreachableException>(() => link.OpenChannelAsync(false, CancellationToken.None));
        Assert.Equal(3, link.ConnectAttempts);

        for (var i = 0; i < 12; i++)
        {
            time.Advance(TimeSpan.FromSeconds(2)); // never more than 2 s
            await Assert.ThrowsAnyAsync<BrokerUnreachableException>(() => link.OpenChannelAsync(false, CancellationToken.None));
        }
        Assert.Equal(15, link.ConnectAttempts);
    }
}
