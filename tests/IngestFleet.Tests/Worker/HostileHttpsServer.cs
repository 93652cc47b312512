using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace IngestFleet.Tests.Worker;

/// <summary>
/// A real HTTPS server on 127.0.0.1 (Kestrel, a self-signed certificate) that misbehaves the ways a catalog's image
/// hosts do: a body without a length, an endless body, a stalled body, a slow drip, 503s, a flaky host, a 404, and a good JPEG. Fetchers reach it
/// only with the test-only loopback switch (<c>FetchOptions.TestOnlyAllowLoopback</c>).
/// </summary>
public sealed class HostileHttpsServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _flakyCalls;
    private int _unavailableCalls;
    private int _dripCalls;
    private int _stalledCalls;
    private int _heldNow;
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private HostileHttpsServer(WebApplication app, byte[] jpeg)
    {
        _app = app;
        // The good JPEG, once the test releases it: until then every request waits (counted in HeldNow), so a test sees how
        // many fetches a worker has in flight at once.
        app.MapGet("/held/{name}", async (HttpContext context) =>
        {
            Interlocked.Increment(ref _heldNow);
            try { await _release.Task.WaitAsync(context.RequestAborted); }
            finally { Interlocked.Decrement(ref _heldNow); }
            return Results.Bytes(jpeg, "image/jpeg");
        });
        app.MapGet("/ok.jpg", () => Results.Bytes(jpeg, "image/jpeg"));
        app.MapGet("/missing.jpg", () => Results.NotFound());
        app.MapGet("/unavailable.jpg", () =>
        {
            Interlocked.Increment(ref _unavailableCalls);
            return Results.StatusCode(503);
        });
        // Two 503s, then the image: a retry cures it.
        app.MapGet("/flaky.jpg", () => Interlocked.Increment(ref _flakyCalls) <= 2 ? Results.StatusCode(503) : Results.Bytes(jpeg, "image/jpeg"));
        // Without a Content-Length, in small flushed pieces (chunked transfer encoding): the good JPEG, and four copies of
        // it end to end (bytes only: longer than the fetcher's first buffer, so it has to grow).
        app.MapGet("/chunked.jpg", (HttpContext context) => Chunked(context, jpeg));
        app.MapGet("/chunked-long.bin", (HttpContext context) => Chunked(context, [.. jpeg, .. jpeg, .. jpeg, .. jpeg]));
        // No Content-Length, and the bytes never stop.
        app.MapGet("/endless.jpg", async (HttpContext context) =>
        {
            context.Response.ContentType = "image/jpeg";
            var chunk = new byte[64 * 1024];
            while (!context.RequestAborted.IsCancellationRequested)
                await context.Response.Body.WriteAsync(chunk, context.RequestAborted);
        });
        // Headers and a first few bytes, then nothing, forever.
        app.MapGet("/stalled.jpg", async (HttpContext context) =>
        {
            Interlocked.Increment(ref _stalledCalls);
            context.Response.ContentType = "image/jpeg";
            await context.Response.Body.WriteAsync(jpeg.AsMemory(0, 16), context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);
            await Task.Delay(Timeout.Infinite, context.RequestAborted);
        });
        // The real image, one byte every 50 ms: each read succeeds, the whole never arrives in time.
        app.MapGet("/drip.jpg", async (HttpContext context) =>
        {
            Interlocked.Increment(ref _dripCalls);
            context.Response.ContentType = "image/jpeg";
            context.Response.ContentLength = jpeg.Length;
            for (var i = 0; i < jpeg.Length && !context.RequestAborted.IsCancellationRequested; i++)
            {
                await context.Response.Body.WriteAsync(jpeg.AsMemory(i, 1), context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
                await Task.Delay(50, context.RequestAborted);
            }
        });
    }

    private static async Task Chunked(HttpContext context, byte[] body)
    {
        context.Response.ContentType = "application/octet-stream";
        for (var i = 0; i < body.Length; i += 7000)
        {
            await context.Response.Body.WriteAsync(body.AsMemory(i, Math.Min(7000, body.Length - i)), context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);
        }
    }

    public int FlakyCalls => _flakyCalls;
    public int UnavailableCalls => _unavailableCalls;
    public int DripCalls => _dripCalls;
    public int StalledCalls => _stalledCalls;

    /// <summary>Requests to <c>/held/…</c> waiting right now.</summary>
    public int HeldNow => Volatile.Read(ref _heldNow);

    /// <summary>Lets every held request (and any later one) have its image.</summary>
    public void ReleaseHeld() => _release.TrySetResult();
    public int Port { get; private set; }
    /// <summary>The image address as a job carries it (a string).</summary>
    public string Source(string path) => $"https://127.0.0.1:{Port}/{path}";

    public static async Task<HostileHttpsServer> StartAsync(byte[] jpeg)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        using var certificate = SelfSigned();
        var pfx = certificate.Export(X509ContentType.Pfx);
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, o => o.UseHttps(X509CertificateLoader.LoadPkcs12(pfx, null))));
        var app = builder.Build();
        var server = new HostileHttpsServer(app, jpeg);
        await app.StartAsync();
        server.Port = new Uri(app.Urls.First()).Port;
        return server;
    }

    private static X509Certificate2 SelfSigned()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
    }

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        await _app.StopAsync(stop.Token);
        await _app.DisposeAsync();
    }
}
