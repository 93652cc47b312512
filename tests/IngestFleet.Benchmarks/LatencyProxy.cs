using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace IngestFleet.Benchmarks;

/// <summary>
/// A TCP proxy that delays every chunk of bytes by a fixed time in each direction, as a network path of that one-way
/// latency would (bandwidth is not limited, order is kept): the broker or bucket of a rented node tens of milliseconds
/// away, put in front of the local RabbitMQ or S3 server. Each direction of each connection forwards what it read once
/// its delay has passed, so a connection's round trip grows by twice the delay, whatever is in flight.
/// </summary>
internal sealed class LatencyProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _target;
    private readonly TimeSpan _oneWay;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _connections = [];
    private readonly Task _accepting;

    public LatencyProxy(IPEndPoint target, TimeSpan oneWay)
    {
        _target = target;
        _oneWay = oneWay;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>A proxy in front of the server a URI names (host and port), and that URI with the proxy's port.</summary>
    public static (LatencyProxy Proxy, string Uri) For(string uri, TimeSpan oneWay)
    {
        var u = new Uri(uri);
        var proxy = new LatencyProxy(new IPEndPoint(IPAddress.Parse(u.Host), u.Port), oneWay);
        return (proxy, new UriBuilder(u) { Port = proxy.Port }.Uri.AbsoluteUri);
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            lock (_connections) _connections.Add(ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        using (var upstream = new TcpClient())
        {
            client.NoDelay = true;
            upstream.NoDelay = true;
            try
            {
                await upstream.ConnectAsync(_target, _stop.Token);
                using var done = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                var a = PumpAsync(client.GetStream(), upstream.GetStream(), done.Token);
                var b = PumpAsync(upstream.GetStream(), client.GetStream(), done.Token);
                await Task.WhenAny(a, b);
                await done.CancelAsync(); // one side closed: close both, as the path would
                await Task.WhenAll(a, b);
            }
            catch (Exception e) when (e is SocketException or IOException or OperationCanceledException) { }
        }
    }

    /// <summary>Reads from one side and writes each chunk to the other once it is <see cref="_oneWay"/> old.</summary>
    private async Task PumpAsync(NetworkStream from, NetworkStream to, CancellationToken ct)
    {
        var queue = Channel.CreateUnbounded<(long Due, byte[] Bytes)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var writer = Task.Run(async () =>
        {
            try
            {
                await foreach (var (due, bytes) in queue.Reader.ReadAllAsync(ct))
                {
                    var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                    if (wait > TimeSpan.Zero) await Task.Delay(wait, ct);
                    await to.WriteAsync(bytes, ct);
                }
                to.Socket.Shutdown(SocketShutdown.Send); // the sender closed its side: so does the delayed copy
            }
            catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or ObjectDisposedException) { }
        }, CancellationToken.None);
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var n = await from.ReadAsync(buffer, ct);
                if (n == 0) break;
                var due = Stopwatch.GetTimestamp() + (long)(_oneWay.TotalSeconds * Stopwatch.Frequency);
                queue.Writer.TryWrite((due, buffer.AsSpan(0, n).ToArray()));
            }
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or ObjectDisposedException) { }
        queue.Writer.TryComplete();
        await writer;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        await _accepting;
        Task[] open;
        lock (_connections) open = [.. _connections];
        await Task.WhenAll(open);
        _stop.Dispose();
    }
}
