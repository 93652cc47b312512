using IngestFleet.Worker.Processing;
using RabbitMQ.Client;

namespace IngestFleet.Tests.Worker;

public sealed class JobDeferralTests
{
    private static BasicProperties Props(string? user, object? since) => new()
    {
        UserId = user,
        Headers = since is null ? null : new Dictionary<string, object?> { [BrokerJobDeferral.DeferredSinceHeader] = since },
    };

    /// <summary>Only the fleet's own deferrals carry a first-try time the worker believes, and only one the clock can hold:
    /// a producer's header (issue 21 review: long.MaxValue threw inside the batch, a future time deferred for ever) is
    /// ignored.</summary>
    [Fact]
    public void DeferredSince_IsBelievedOnlyFromTheFleet_AndOnlyInRange()
    {
        var at = DateTimeOffset.Parse("2026-12-06T08:00:00Z", System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(at, BrokerJobDeferral.DeferredSinceOf(Props("fleet", at.ToUnixTimeMilliseconds()), "fleet"));
        Assert.Null(BrokerJobDeferral.DeferredSinceOf(Props("producer-b", at.ToUnixTimeMilliseconds()), "fleet"));
        Assert.Null(BrokerJobDeferral.DeferredSinceOf(Props(null, at.ToUnixTimeMilliseconds()), "fleet"));
        Assert.Null(BrokerJobDeferral.DeferredSinceOf(Props("fleet", long.MaxValue), "fleet"));
        Assert.Null(BrokerJobDeferral.DeferredSinceOf(Props("fleet", -1L), "fleet"));
        Assert.Null(BrokerJobDeferral.DeferredSinceOf(Props("fleet", "yesterday"), "fleet"));
        Assert.Null(BrokerJobDeferral.DeferredSinceOf(Props("fleet", null), "fleet"));
    }
}
