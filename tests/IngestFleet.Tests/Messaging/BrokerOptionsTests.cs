using System.ComponentModel.DataAnnotations;
using IngestFleet.Messaging;
using IngestFleet.Messaging.Broker;

namespace IngestFleet.Tests.Messaging;

/// <summary>The node list, the management URLs and the TLS settings as configuration gives them (issue 24).</summary>
public sealed class BrokerOptionsTests
{
    private static List<string> Errors(RabbitMqOptions o)
    {
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(o, new ValidationContext(o), results, validateAllProperties: true);
        return results.Select(r => r.ErrorMessage!).ToList();
    }

    [Fact]
    public void WithoutANodeList_TheUrisHostIsTheOneNode_WithTheSchemesDefaultPort()
    {
        Assert.Equal([("10.0.0.5", 5672)], new RabbitMqOptions { Uri = "amqp://u:p@10.0.0.5/" }.Nodes());
        Assert.Equal([("broker.example.com", 5671)], new RabbitMqOptions { Uri = "amqps://u:p@broker.example.com/" }.Nodes());
        Assert.Equal([("broker", 5999)], new RabbitMqOptions { Uri = "amqps://u:p@broker:5999/vh" }.Nodes());
        Assert.False(new RabbitMqOptions().HasClusterNodes);
    }

    [Fact]
    public void NodeEntries_MayListSeveral_AndTakeTheUrisPortWhenTheyNameNone()
    {
        var o = new RabbitMqOptions
        {
            Uri = "amqps://u:p@rabbit.internal:5671/fleet",
            ClusterNodes = ["rabbit-0.rabbit:5671, rabbit-1.rabbit", "", null!, "10.0.0.7:5999"],
        };
        Assert.True(o.HasClusterNodes);
        Assert.Equal([("rabbit-0.rabbit", 5671), ("rabbit-1.rabbit", 5671), ("10.0.0.7", 5999)], o.Nodes());
        Assert.Empty(Errors(o));
        var endpoints = BrokerEndpoints.Endpoints(o);
        Assert.Equal(3, endpoints.Count);
        Assert.All(endpoints, e => Assert.True(e.Ssl.Enabled));
        Assert.All(endpoints, e => Assert.Equal("rabbit.internal", e.Ssl.ServerName)); // one name for every node, as MassTransit applies it
        Assert.Equal("amqps://***@rabbit.internal:5671/fleet (nodes rabbit-0.rabbit:5671, rabbit-1.rabbit:5671, 10.0.0.7:5999)", BrokerEndpoints.Describe(o));
    }

    [Fact]
    public void PlainAmqp_NoTlsOnAnyEndpoint()
    {
        var endpoints = BrokerEndpoints.Endpoints(new RabbitMqOptions { ClusterNodes = ["a:5672", "b:5672"] });
        Assert.All(endpoints, e => Assert.False(e.Ssl.Enabled));
    }

    [Theory]
    [InlineData("host:port")]
    [InlineData("host:0")]
    [InlineData("host:70000")]
    [InlineData("http://host:5672")]
    [InlineData("two words")]
    [InlineData("[fd00::7]:5672")] // MassTransit's node parser splits on every colon
    [InlineData("h:abc")]
    public void ABadNode_IsAStartUpError_AndNeverACrashWhereOptionsAreNotValidated(string entry)
    {
        var o = new RabbitMqOptions { ClusterNodes = [entry] };
        Assert.Contains(Errors(o), e => e.Contains("ClusterNodes", StringComparison.Ordinal) && e.Contains(entry, StringComparison.Ordinal));
        // The CLI binds without validating: reading the list is the same error, which the CLI reports as a configuration error.
        var thrown = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => o.Nodes());
        Assert.Contains(entry, thrown.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ManagementUrls_TheFirstThenTheOthers_EachOnce_AndOnlyHttp()
    {
        var o = new RabbitMqOptions { ManagementUri = "http://a:15672", ManagementUris = ["http://b:15672,https://c:15671", "http://a:15672"] };
        Assert.Equal(["http://a:15672", "http://b:15672", "https://c:15671"], o.ManagementUrls());
        Assert.Empty(Errors(o));
        Assert.Contains(Errors(new RabbitMqOptions { ManagementUris = ["ftp://x"] }), e => e.Contains("ftp://x", StringComparison.Ordinal));
    }

    [Fact]
    public void TlsFiles_MustExist_AndAKeyNeedsItsCertificate()
    {
        var errors = Errors(new RabbitMqOptions { Tls = new RabbitMqTlsOptions { CaFile = "/nonexistent/ca.pem", ClientKeyFile = "/nonexistent/key.pem" } });
        Assert.Contains(errors, e => e.Contains("CaFile", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("ClientKeyFile '/nonexistent/key.pem' does not exist", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("needs ClientCertificateFile", StringComparison.Ordinal));
    }

    [Fact]
    public void QueuesAreDeclaredWithTheConfiguredReplicaCount()
    {
        var fleet = new FleetOptions { QuorumInitialGroupSize = 5 };
        Assert.Equal(5, FleetTopology.QueueArguments(fleet)["x-quorum-initial-group-size"]);
        Assert.Equal(5, FleetTopology.PoisonQueueArguments(fleet)["x-quorum-initial-group-size"]);
        Assert.Equal(3, FleetTopology.QueueArguments(new FleetOptions())["x-quorum-initial-group-size"]);
        Assert.False(FleetTopology.QueueArguments(new FleetOptions { QuorumInitialGroupSize = 0 }).ContainsKey("x-quorum-initial-group-size")); // as queues of earlier builds
    }
}
