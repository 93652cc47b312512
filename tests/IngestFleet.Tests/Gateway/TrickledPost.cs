using System.Net.Sockets;
using System.Text;

namespace IngestFleet.Tests.Gateway;

/// <summary>A POST whose body (announced as 100,000 bytes) arrives at 500 B/s, on its own connection.</summary>
public sealed class TrickledPost : IAsyncDisposable
{
    private readonly TcpClient _tcp = new();
    private readonly CancellationTokenSource _stop = new();
    private Task _trickle = Task.CompletedTask;

    public static async Task<TrickledPost> StartAsync(Uri gateway, string key)
    {
        var post = new TrickledPost();
        await post._tcp.ConnectAsync(gateway.Host, gateway.Port);
        var stream = post._tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(
            $"POST /v1/jobs HTTP/1.1\r\nHost: {gateway.Authority}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n["));
        post._trickle = Task.Run(async () =>
        {
            var spaces = Encoding.ASCII.GetBytes(new string(' ', 50));
            try
            {
                while (!post._stop.IsCancellationRequested)
                {
                    await stream.WriteAsync(spaces, post._stop.Token);
                    await Task.Delay(100, post._stop.Token);
                }
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException) { } // the gateway closed it
        });
        return post;
    }

    /// <summary>The status line of the gateway's answer.</summary>
    public async Task<string> StatusLineAsync()
    {
        using var reader = new StreamReader(_tcp.GetStream(), Encoding.ASCII, leaveOpen: true);
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        return await reader.ReadLineAsync(wait.Token) ?? "(closed without an answer)";
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _trickle;
        _tcp.Dispose();
        _stop.Dispose();
    }
}
