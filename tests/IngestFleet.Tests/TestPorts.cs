using System.Net;
using System.Net.Sockets;

namespace IngestFleet.Tests;

/// <summary>
/// Local ports for servers a test starts (or for "nothing listens here"). A port taken from the kernel's ephemeral range
/// and released at once (bind to 0, stop) can be taken before the server binds it by any outgoing connection on the
/// machine, which draws its local port from that same range: clean-clone run 72 failed that way ("Address already in
/// use" in a rendered worker pod). These come from below the ephemeral range, where no outgoing connection lands, are
/// checked bindable, and are never handed out twice by one test process.
/// </summary>
internal static class TestPorts
{
    private static readonly HashSet<int> Handed = [];

    public static int Free()
    {
        var below = EphemeralLow();
        lock (Handed)
        {
            for (var attempt = 0; attempt < 1000; attempt++)
            {
                var port = System.Security.Cryptography.RandomNumberGenerator.GetInt32(10_000, below);
                if (!Handed.Add(port)) continue;
                try
                {
                    using var probe = new TcpListener(IPAddress.Loopback, port);
                    probe.Start();
                    return port;
                }
                catch (SocketException)
                {
                    // in use: another one
                }
            }
        }
        throw new InvalidOperationException($"no free port between 10000 and {below}");
    }

    /// <summary>The first port of the kernel's ephemeral range (Linux: ip_local_port_range; 32768 elsewhere, below the
    /// IANA range macOS and Windows use from 49152).</summary>
    private static int EphemeralLow()
    {
        const string range = "/proc/sys/net/ipv4/ip_local_port_range";
        if (File.Exists(range) && int.TryParse(File.ReadAllText(range).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)[0],
                System.Globalization.CultureInfo.InvariantCulture, out var low) && low > 11_000)
            return low;
        return 32_768;
    }
}
