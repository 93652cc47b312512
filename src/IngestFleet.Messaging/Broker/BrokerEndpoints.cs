using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace IngestFleet.Messaging.Broker;

/// <summary>
/// The one place that turns <see cref="RabbitMqOptions"/> into connections: the node list (any node that answers;
/// RabbitMQ.Client tries the list in a shuffled order, MassTransit in turn from the one after the last it used), TLS
/// with certificate verification (the name, and the chain up to the configured CA, never switched off), an optional
/// client certificate, and the management API's URLs with the same trust. Raw AMQP (<see cref="BrokerLink"/>,
/// <see cref="FleetTopology"/>), the MassTransit bus (the worker's WorkerHosting, with the same node list and
/// <see cref="BrokerTlsTrust"/>) and <see cref="Limits.QueueMonitor"/> all come through here.
/// </summary>
public static class BrokerEndpoints
{
    /// <summary>A connection to the first node of the list that accepts one. A certificate refused by the TLS check is a
    /// <see cref="BrokerTlsException"/> saying why.</summary>
    public static async Task<IConnection> ConnectAsync(RabbitMqOptions options, string clientName, TimeSpan connectTimeout, CancellationToken cancellationToken)
    {
        var trust = new BrokerTlsTrust(options.Tls);
        var factory = new ConnectionFactory
        {
            Uri = new Uri(options.Uri),
            ClientProvidedName = clientName,
            RequestedConnectionTimeout = connectTimeout,
            AutomaticRecoveryEnabled = false,
        };
        var endpoints = Endpoints(options, trust);
        try
        {
            return await factory.CreateConnectionAsync(endpoints, clientName, cancellationToken);
        }
        catch (BrokerUnreachableException e) when (trust.LastRefusal is { } why)
        {
            throw new BrokerTlsException($"TLS to RabbitMQ refused: {why}", e);
        }
    }

    /// <summary>The TLS versions the operating system allows (1.2 and 1.3 today), for raw AMQP and the bus alike:
    /// MassTransit's own default is TLS 1.2 alone, which a broker that only takes 1.3 would refuse.</summary>
    public const System.Security.Authentication.SslProtocols TlsVersions = System.Security.Authentication.SslProtocols.None;

    /// <summary>The broker as logs and errors name it: the URI without credentials, and the node list when there is one.</summary>
    public static string Describe(RabbitMqOptions options) => options.HasClusterNodes
        ? $"{BrokerLink.Redacted(options.Uri)} (nodes {string.Join(", ", options.Nodes().Select(n => FormattableString.Invariant($"{n.Host}:{n.Port}")))})"
        : BrokerLink.Redacted(options.Uri);

    /// <summary>One endpoint per node (the URI's host when no node list is configured), each with the TLS options.</summary>
    public static IReadOnlyList<AmqpTcpEndpoint> Endpoints(RabbitMqOptions options) => Endpoints(options, new BrokerTlsTrust(options.Tls));

    private static List<AmqpTcpEndpoint> Endpoints(RabbitMqOptions options, BrokerTlsTrust trust)
    {
        var uri = new Uri(options.Uri);
        var tls = uri.Scheme == "amqps";
        return options.Nodes().Select(n =>
        {
            var ssl = new SslOption { Enabled = tls, ServerName = options.Tls.ServerName ?? uri.Host, Version = TlsVersions };
            if (tls)
            {
                ssl.CertificateValidationCallback = trust.Validate;
                if (trust.ClientCertificate() is { } client) ssl.Certs = new X509CertificateCollection { client };
            }
            return new AmqpTcpEndpoint(n.Host, n.Port, ssl);
        }).ToList();
    }

    /// <summary>An HTTP handler for the management API: the same CA, name check and client certificate as AMQP.</summary>
    public static HttpMessageHandler ManagementHandler(BrokerTlsTrust trust)
    {
        var handler = new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(3) };
        handler.SslOptions.RemoteCertificateValidationCallback = trust.Validate;
        if (trust.ClientCertificate() is { } client) handler.SslOptions.ClientCertificates = new X509CertificateCollection { client };
        return handler;
    }
}

/// <summary>A broker whose certificate failed verification (wrong CA, wrong name, none): never accepted. A kind of
/// <see cref="BrokerUnreachableException"/>, so every caller that handles an unreachable broker handles it, with the
/// reason as its message.</summary>
public sealed class BrokerTlsException(string message, Exception inner) : BrokerUnreachableException(inner)
{
    public override string Message { get; } = message;
}

/// <summary>The certificate check of one set of TLS options: the platform's checks, except that with a CA file the chain
/// must end in that CA (custom root trust) instead of the system's roots. Remembers why it last refused.</summary>
public sealed class BrokerTlsTrust(RabbitMqTlsOptions options)
{
    private readonly Lazy<X509Certificate2Collection?> _roots = new(() =>
    {
        if (string.IsNullOrEmpty(options.CaFile)) return null;
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(options.CaFile);
        if (roots.Count == 0) throw new InvalidOperationException($"IngestFleet:RabbitMq:Tls:CaFile {options.CaFile} holds no PEM certificate");
        return roots;
    });

    private readonly Lazy<X509Certificate2?> _client = new(() =>
    {
        if (string.IsNullOrEmpty(options.ClientCertificateFile)) return null;
        if (!string.IsNullOrEmpty(options.ClientKeyFile))
        {
            // A PEM key is ephemeral; exported and re-imported as PKCS#12 it can sign TLS handshakes on every platform.
            using var pem = X509Certificate2.CreateFromPemFile(options.ClientCertificateFile, options.ClientKeyFile);
            return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
        }
        return X509CertificateLoader.LoadPkcs12FromFile(options.ClientCertificateFile, options.ClientCertificatePassword);
    });

    public string? LastRefusal { get; private set; }

    public X509Certificate2? ClientCertificate() => _client.Value;

    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null) return Refuse("the server sent no certificate");
        var subject = certificate.Subject;
        using var leaf = new X509Certificate2(certificate);
        // The management API is reached by each node's URL; its certificate carries the configured name (as for AMQP,
        // where that name is the one connected to), so a mismatch with the URL's host is no mismatch when it carries it.
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch) && !string.IsNullOrEmpty(options.ServerName)
            && leaf.MatchesHostname(options.ServerName))
            errors &= ~SslPolicyErrors.RemoteCertificateNameMismatch;
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
            return Refuse($"its certificate ({subject}) does not carry the name connected to (set IngestFleet:RabbitMq:Tls:ServerName, or give the certificate that name)");
        if (_roots.Value is not { } roots)
            return errors == SslPolicyErrors.None || Refuse($"its certificate ({subject}) is not trusted by this machine: {errors} (set IngestFleet:RabbitMq:Tls:CaFile to the broker's CA)");
        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(roots);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain is not null)
            foreach (var element in chain.ChainElements) custom.ChainPolicy.ExtraStore.Add(element.Certificate);
        if (custom.Build(leaf)) return true;
        var status = string.Join("; ", custom.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
        return Refuse($"its certificate ({subject}, issued by {certificate.Issuer}) does not chain to the CA in IngestFleet:RabbitMq:Tls:CaFile ({options.CaFile}): {status}");
    }

    private bool Refuse(string why)
    {
        LastRefusal = why;
        return false;
    }
}
