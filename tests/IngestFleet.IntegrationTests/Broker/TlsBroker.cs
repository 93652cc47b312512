using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace IngestFleet.IntegrationTests.Broker;

/// <summary>
/// A RabbitMQ node with TLS only (AMQPS on 5691, management over HTTPS on 15691; no plain listener), its CA, server and
/// client certificates made by the test: the node verifies clients (<c>verify_peer</c>, <c>fail_if_no_peer_cert</c>),
/// so a connection needs the client certificate as well as a trusted server. A second CA signs nothing the node uses:
/// trusting it must not let a client in. Started with <c>.ci/lib/rabbit-cluster.sh tls-up</c>; one node per test class.
/// </summary>
public sealed class TlsBroker : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ingestfleet-tls-").FullName;
    private bool _started;

    public const string AmqpsUri = "amqps://guest:guest@localhost:5691/";
    public const string ManagementUri = "https://localhost:15691";
    public string CaFile => Path.Combine(_dir, "ca.pem");
    public string OtherCaFile => Path.Combine(_dir, "other-ca.pem");
    public string ClientCertificateFile => Path.Combine(_dir, "client.pem");
    public string ClientKeyFile => Path.Combine(_dir, "client.key");

    public async Task InitializeAsync()
    {
        var now = DateTimeOffset.UtcNow;
        using var caKey = RSA.Create(2048);
        using var ca = SelfSignedCa("CN=IngestFleet test CA", caKey, now);
        using var otherKey = RSA.Create(2048);
        using var other = SelfSignedCa("CN=Another CA", otherKey, now);
        await File.WriteAllTextAsync(CaFile, ca.ExportCertificatePem());
        await File.WriteAllTextAsync(OtherCaFile, other.ExportCertificatePem());
        await IssueAsync(ca, "CN=localhost", server: true, "server");
        await IssueAsync(ca, "CN=ingestfleet-worker", server: false, "client");
        await File.WriteAllTextAsync(Path.Combine(_dir, "rabbitmq.conf"), $"""
            listeners.tcp = none
            listeners.ssl.default = 5691
            ssl_options.cacertfile = {CaFile}
            ssl_options.certfile = {Path.Combine(_dir, "server.pem")}
            ssl_options.keyfile = {Path.Combine(_dir, "server.key")}
            ssl_options.verify = verify_peer
            ssl_options.fail_if_no_peer_cert = true
            management.ssl.port = 15691
            management.ssl.cacertfile = {CaFile}
            management.ssl.certfile = {Path.Combine(_dir, "server.pem")}
            management.ssl.keyfile = {Path.Combine(_dir, "server.key")}
            loopback_users.guest = true

            """);
        _started = true;
        await IngestFleet.Faults.BrokerCluster.ScriptAsync(TimeSpan.FromMinutes(3), "tls-up", _dir);
    }

    private static X509Certificate2 SelfSignedCa(string name, RSA key, DateTimeOffset now)
    {
        var request = new CertificateRequest(name, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(2));
    }

    private async Task IssueAsync(X509Certificate2 ca, string subject, bool server, string file)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(server ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
        if (server)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddDnsName("localhost");
            names.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(names.Build());
        }
        var serial = RandomNumberGenerator.GetBytes(12);
        using var issued = request.Create(ca, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1), serial);
        await File.WriteAllTextAsync(Path.Combine(_dir, file + ".pem"), issued.ExportCertificatePem());
        await File.WriteAllTextAsync(Path.Combine(_dir, file + ".key"), key.ExportPkcs8PrivateKeyPem());
    }

    public async Task DisposeAsync()
    {
        if (_started) await IngestFleet.Faults.BrokerCluster.ScriptAsync(TimeSpan.FromMinutes(2), "tls-down");
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
