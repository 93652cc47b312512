using IngestFleet.Messaging.Publishing;
using RabbitMQ.Client;

namespace IngestFleet.Tests.Messaging;

public sealed class PublisherIdentityTests
{
    private static PublisherIdentity Identity(params (string User, string[] Tenants)[] map)
    {
        var options = new PublisherIdentityOptions();
        foreach (var (user, tenants) in map) options.Tenants[user] = tenants;
        return new PublisherIdentity("fleet", options);
    }

    private static BasicProperties Props(string? userId, string? relayed = null) => new()
    {
        UserId = userId,
        Headers = relayed is null ? null : new Dictionary<string, object?> { [PublisherIdentity.Header] = System.Text.Encoding.UTF8.GetBytes(relayed) },
    };

    [Fact]
    public void UserOf_IsTheUserTheUriLogsInAs_Unescaped()
    {
        Assert.Equal("ingest user", PublisherIdentity.UserOf(new Uri("amqps://ingest%20user:p%40ss@broker.example:5671/fleet")));
        Assert.Equal("guest", PublisherIdentity.UserOf(new Uri("amqp://broker.example/"))); // the client's default
    }

    [Fact]
    public void RelayHeader_IsBelievedOnlyFromTheFleetsOwnUser()
    {
        Assert.Equal("producer-b", PublisherIdentity.PublisherOf(Props("fleet", "producer-b"), "fleet"));
        Assert.Null(PublisherIdentity.PublisherOf(Props("fleet", ""), "fleet")); // relayed for a job that named nobody
        Assert.Equal("fleet", PublisherIdentity.PublisherOf(Props("fleet"), "fleet"));
        // A producer cannot borrow another identity through the header.
        Assert.Equal("producer-b", PublisherIdentity.PublisherOf(Props("producer-b", "fleet"), "fleet"));
        Assert.Null(PublisherIdentity.PublisherOf(Props(null, "fleet"), "fleet"));
    }

    [Fact]
    public void Stamp_SetsTheSender_AndNamesAnotherPublisherOnly()
    {
        var own = PublisherIdentity.Stamp(Props("someone", "stale"), "fleet", null);
        Assert.Equal("fleet", own.UserId);
        Assert.Null(own.Headers);
        var relayed = PublisherIdentity.Stamp(new BasicProperties { Headers = new Dictionary<string, object?> { ["x-keep"] = 1 } }, "fleet", "producer-b");
        Assert.Equal("producer-b", PublisherIdentity.PublisherOf(relayed, "fleet"));
        Assert.Equal(1, relayed.Headers!["x-keep"]);
        Assert.Null(PublisherIdentity.PublisherOf(PublisherIdentity.Stamp(new BasicProperties(), "fleet", ""), "fleet"));
        Assert.Equal("fleet", PublisherIdentity.PublisherOf(PublisherIdentity.Stamp(new BasicProperties(), "fleet", "fleet"), "fleet"));
    }

    [Fact]
    public void Refusal_FollowsTheMap_TheFleetUserMayPublishForAnyTenant()
    {
        var identity = Identity(("producer-b", ["tenant-b"]), ("gateway", ["*"]));
        Assert.Null(identity.Refusal("fleet", "tenant-a"));
        Assert.Null(identity.Refusal("gateway", "tenant-a"));
        Assert.Null(identity.Refusal("producer-b", "tenant-b"));
        Assert.Contains("may not publish for tenant tenant-a", identity.Refusal("producer-b", "tenant-a"));
        Assert.Contains("may not publish", identity.Refusal("unknown", "tenant-b"));
        Assert.Contains("names no publisher", identity.Refusal(null, "tenant-b"));
        Assert.Contains("names no publisher", identity.Refusal("", "tenant-b"));
    }
}
