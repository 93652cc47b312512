using System.Net;
using System.Net.Sockets;

namespace IngestFleet.Worker.Fetching;

/// <summary>Resolves a host name to its addresses, as <see cref="Dns.GetHostAddressesAsync(string, CancellationToken)"/> does.</summary>
public delegate Task<IPAddress[]> HostResolver(string host, CancellationToken cancellationToken);

/// <summary>
/// Resolves the host once, refuses loopback, private, link-local (cloud metadata), CGNAT, multicast, unspecified,
/// documentation and benchmarking ranges, IPv6 ULA/link-local, and IPv4 addresses embedded in IPv6 (IPv4-mapped,
/// NAT64 <c>64:ff9b::/96</c>, 6to4 <c>2002::/16</c>) when the embedded address is not public, then connects to the
/// address it checked (no second lookup that DNS rebinding could answer differently). It never uses a proxy
/// (<c>HTTPS_PROXY</c> is ignored): through a proxy, the proxy would choose the address, unchecked.
/// </summary>
public static class SsrfGuard
{
    /// <param name="maxConnectionsPerHost">Connections open at once to one host.</param>
    /// <param name="testOnlyAllowLoopback">Test-only (<see cref="FetchOptions.TestOnlyAllowLoopback"/>): also admit
    /// 127.0.0.1 / ::1 and trust the certificate a server at a loopback literal presents.</param>
    /// <param name="resolve">Looks a host name up (<see cref="Dns.GetHostAddressesAsync(string, CancellationToken)"/> unless
    /// given); it throws <see cref="SocketException"/> as that method does when the name does not resolve.</param>
    public static SocketsHttpHandler CreateHandler(int maxConnectionsPerHost = 8, bool testOnlyAllowLoopback = false, HostResolver? resolve = null) => new()
    {
        AllowAutoRedirect = false,
        UseProxy = false,
        MaxConnectionsPerServer = maxConnectionsPerHost,
        AutomaticDecompression = DecompressionMethods.None,
        ConnectTimeout = TimeSpan.FromSeconds(5),
        ConnectCallback = async (context, cancellationToken) =>
        {
            var addresses = await (resolve ?? Dns.GetHostAddressesAsync)(context.DnsEndPoint.Host, cancellationToken);
            var allowed = addresses.FirstOrDefault(a => IsPublic(a) || (testOnlyAllowLoopback && IPAddress.IsLoopback(a)))
                ?? throw new SsrfRefusedException($"{context.DnsEndPoint.Host} resolves only to non-public addresses ({string.Join(", ", addresses.Select(a => a.ToString()))})");
            var socket = new Socket(allowed.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(allowed, context.DnsEndPoint.Port), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
        SslOptions = testOnlyAllowLoopback
            ? new System.Net.Security.SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (sender, _, _, errors) =>
                    errors == System.Net.Security.SslPolicyErrors.None
                    || (sender is System.Net.Security.SslStream { TargetHostName: "127.0.0.1" or "::1" or "[::1]" or "localhost" }),
            }
            : new System.Net.Security.SslClientAuthenticationOptions(),
    };

    public static bool IsPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) || address.Equals(IPAddress.Broadcast))
            return false;
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = address.GetAddressBytes();
            return !(b[0] == 10 || b[0] == 0 || b[0] == 127
                || (b[0] == 172 && b[1] is >= 16 and <= 31)
                || (b[0] == 192 && b[1] == 168)
                || (b[0] == 169 && b[1] == 254)
                || (b[0] == 100 && b[1] is >= 64 and <= 127)
                || (b[0] == 192 && b[1] == 0 && b[2] is 0 or 2)     // IETF protocol assignments, TEST-NET-1
                || (b[0] == 198 && b[1] == 51 && b[2] == 100)       // TEST-NET-2
                || (b[0] == 203 && b[1] == 0 && b[2] == 113)        // TEST-NET-3
                || (b[0] == 198 && b[1] is 18 or 19)                // benchmarking
                || b[0] >= 224);
        }
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            var b = address.GetAddressBytes();
            // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address: judge that one.
            if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b.AsSpan(4, 8).IndexOfAnyExcept((byte)0) < 0)
                return IsPublic(new IPAddress(b.AsSpan(12, 4)));
            if (b[0] == 0x20 && b[1] == 0x02)
                return IsPublic(new IPAddress(b.AsSpan(2, 4)));
            return !(address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6Multicast
                || (b[0] & 0xFE) == 0xFC // fc00::/7 unique local
                || address.IsIPv6Teredo
                || (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b)  // local-use NAT64 64:ff9b:1::/48 and the rest
                || (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) // documentation 2001:db8::/32
                || (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x00 && b[3] == 0x02 && b[4] == 0 && b[5] == 0) // benchmarking 2001:2::/48
                || (b[0] == 0x01 && b[1] == 0x00 && b.AsSpan(2, 6).IndexOfAnyExcept((byte)0) < 0)); // discard-only 100::/64
        }
        return false;
    }
}
