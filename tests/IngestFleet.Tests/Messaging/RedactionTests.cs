using IngestFleet.Messaging.Broker;

namespace IngestFleet.Tests.Messaging;

/// <summary>Connection strings in logs and answers: no spelling of the credentials survives. Replacing
/// <see cref="Uri.UserInfo"/> in the original text missed passwords that System.Uri re-escapes (a space, braces,
/// an escaped letter): <c>amqp://ingest:p ss{1}@…</c> was printed verbatim (issue 21).</summary>
public sealed class RedactionTests
{
    [Theory]
    [InlineData("amqp://ingest:p ss{1}@rabbit.internal:5672/catalog", "p ss", "amqp://***@rabbit.internal:5672/catalog")]
    [InlineData("amqp://ingest:p%20ss%7B1%7D@rabbit.internal:5672/", "p%20ss", "amqp://***@rabbit.internal:5672/")]
    [InlineData("amqps://ingest:%41bc@rabbit.internal/vh", "%41bc", "amqps://***@rabbit.internal/vh")]
    [InlineData("http://admin:s3cr%2Ft@mgmt:15672", "s3cr", "http://***@mgmt:15672/")]
    [InlineData("amqp://only-user@rabbit:5672/", "only-user", "amqp://***@rabbit:5672/")]
    public void CredentialsNeverSurvive(string connection, string secret, string expected)
    {
        var redacted = BrokerLink.Redacted(connection);
        Assert.DoesNotContain(secret, redacted, StringComparison.Ordinal);
        Assert.DoesNotContain("ingest", redacted, StringComparison.Ordinal);
        Assert.Equal(expected, redacted);
    }

    [Fact]
    public void WithoutCredentials_TheAddressIsKept_AndWhatDoesNotParseIsWithheld()
    {
        Assert.Equal("amqp://rabbit:5672/", BrokerLink.Redacted("amqp://rabbit:5672/"));
        Assert.DoesNotContain("pw", BrokerLink.Redacted("not a uri user:pw@host"), StringComparison.Ordinal);
    }
}
