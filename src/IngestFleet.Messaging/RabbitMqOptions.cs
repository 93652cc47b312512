using System.ComponentModel.DataAnnotations;

namespace IngestFleet.Messaging;

/// <summary>Broker connection. Bound from <c>IngestFleet:RabbitMq</c>. Every party (workers, gateway, CLI, poison drain,
/// shedder) connects through <see cref="Broker.BrokerEndpoints"/>, so a node list or TLS setting holds for all of them.</summary>
public sealed class RabbitMqOptions : IValidatableObject
{
    public const string SectionName = "IngestFleet:RabbitMq";

    /// <summary>Credentials, virtual host and scheme (<c>amqps://</c> turns TLS on); its host and port are the broker
    /// when <see cref="ClusterNodes"/> is empty.</summary>
    /// <value>Default amqp://guest:guest@127.0.0.1:5672/ (guest only connects from loopback).</value>
    [Required, RegularExpression("^amqps?://.+", ErrorMessage = "IngestFleet:RabbitMq:Uri must be an amqp:// or amqps:// URI")]
    public string Uri { get; set; } = "amqp://guest:guest@127.0.0.1:5672/";

    /// <summary>The cluster's nodes as <c>host[:port]</c> (an entry may list several, comma-separated). When set, a
    /// connection goes to any node of the list that answers and a lost one reconnects to the next, instead of to the one
    /// host of <see cref="Uri"/> (whose user, password, vhost and scheme still apply). The port defaults to the URI's.</summary>
    /// <value>Default empty (the URI's host only).</value>
    public string[] ClusterNodes { get; set; } = [];

    /// <summary>Management API, for queue depth including unacked messages.</summary>
    [Required, Url]
    public string ManagementUri { get; set; } = "http://127.0.0.1:15672";

    /// <summary>More management API URLs (one per cluster node): tried in turn after <see cref="ManagementUri"/> when it
    /// does not answer, the last one that answered first.</summary>
    /// <value>Default empty.</value>
    public string[] ManagementUris { get; set; } = [];

    /// <summary>TLS for <c>amqps://</c> and <c>https://</c> management URLs.</summary>
    public RabbitMqTlsOptions Tls { get; set; } = new();

    /// <summary>The node list, one entry per node, with the URI's port where an entry names none.</summary>
    public IReadOnlyList<(string Host, int Port)> Nodes()
    {
        var uri = new System.Uri(Uri);
        var defaultPort = uri.IsDefaultPort || uri.Port <= 0 ? (uri.Scheme == "amqps" ? 5671 : 5672) : uri.Port;
        var nodes = NodeEntries().Select(e => ParseNode(e, defaultPort)).ToList();
        return nodes.Count > 0 ? nodes : [(uri.Host, defaultPort)];
    }

    /// <summary>Whether a node list is configured (else the URI's host is the one node).</summary>
    public bool HasClusterNodes => NodeEntries().Any();

    private IEnumerable<string> NodeEntries() => SplitEntries(ClusterNodes);

    private static IEnumerable<string> SplitEntries(string?[] entries) =>
        entries.Where(e => !string.IsNullOrWhiteSpace(e)).SelectMany(e => e!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>The management URLs in configured order: <see cref="ManagementUri"/>, then <see cref="ManagementUris"/>.</summary>
    public IReadOnlyList<string> ManagementUrls() =>
        SplitEntries(ManagementUris).Prepend(ManagementUri).Distinct(StringComparer.OrdinalIgnoreCase).ToList();

    /// <summary><c>host</c> or <c>host:port</c>. Not an IPv6 literal: MassTransit's cluster node parser splits on every
    /// colon, so the bus could not take one (use a host name).</summary>
    private static (string Host, int Port) ParseNode(string entry, int defaultPort)
    {
        if (!IsNode(entry)) throw new Microsoft.Extensions.Options.OptionsValidationException(SectionName, typeof(RabbitMqOptions), [NodeError(entry)]);
        var colon = entry.IndexOf(':', StringComparison.Ordinal);
        return colon < 0 ? (entry, defaultPort) : (entry[..colon], int.Parse(entry[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture));
    }

    private static bool IsNode(string entry)
    {
        var m = System.Text.RegularExpressions.Regex.Match(entry, @"^[A-Za-z0-9._-]+(:([0-9]{1,5}))?$");
        return m.Success && (!m.Groups[2].Success || int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture) is >= 1 and <= 65535);
    }

    private static string NodeError(string entry) =>
        $"IngestFleet:RabbitMq:ClusterNodes entry '{entry}' is not host[:port] (a host name or IPv4 address; IPv6 literals are not supported)";

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var entry in NodeEntries().Where(e => !IsNode(e)))
            yield return new ValidationResult(NodeError(entry), [nameof(ClusterNodes)]);
        foreach (var url in ManagementUrls())
        {
            if (!System.Uri.TryCreate(url, UriKind.Absolute, out var u) || u.Scheme is not ("http" or "https"))
                yield return new ValidationResult($"IngestFleet:RabbitMq management URL '{url}' is not an http(s) URL", [nameof(ManagementUris)]);
        }
        foreach (var (name, file) in new[] { ("CaFile", Tls.CaFile), ("ClientCertificateFile", Tls.ClientCertificateFile), ("ClientKeyFile", Tls.ClientKeyFile) })
        {
            if (!string.IsNullOrEmpty(file) && !File.Exists(file))
                yield return new ValidationResult($"IngestFleet:RabbitMq:Tls:{name} '{file}' does not exist", [nameof(Tls)]);
        }
        if (!string.IsNullOrEmpty(Tls.ClientKeyFile) && string.IsNullOrEmpty(Tls.ClientCertificateFile))
            yield return new ValidationResult("IngestFleet:RabbitMq:Tls:ClientKeyFile needs ClientCertificateFile", [nameof(Tls)]);
    }
}

/// <summary>TLS to the broker (<c>amqps://</c>) and its management API (<c>https://</c>). Bound from
/// <c>IngestFleet:RabbitMq:Tls</c>. The server's certificate is always verified: its name, and its chain up to
/// <see cref="CaFile"/> when set (only that CA is trusted then), else up to the system's trust store.</summary>
public sealed class RabbitMqTlsOptions
{
    /// <summary>PEM file of the CA certificate(s) the broker's certificate must chain to.</summary>
    public string? CaFile { get; set; }

    /// <summary>Client certificate, PEM (with <see cref="ClientKeyFile"/>) or PKCS#12 (with
    /// <see cref="ClientCertificatePassword"/>), for brokers that require one (<c>ssl_options.fail_if_no_peer_cert</c>).</summary>
    public string? ClientCertificateFile { get; set; }

    /// <summary>PEM private key of <see cref="ClientCertificateFile"/>.</summary>
    public string? ClientKeyFile { get; set; }

    public string? ClientCertificatePassword { get; set; }

    /// <summary>The name every node's certificate must carry. Default: the URI's host, for each node of
    /// <see cref="RabbitMqOptions.ClusterNodes"/> too (MassTransit applies one server name to all nodes), so a cluster's
    /// certificates carry that name as a subject alternative name.</summary>
    public string? ServerName { get; set; }
}
