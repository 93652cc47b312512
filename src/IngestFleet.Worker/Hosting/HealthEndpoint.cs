using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace IngestFleet.Worker.Hosting;

/// <summary>Where the worker answers health probes. Bound from <c>IngestFleet:Health</c>.</summary>
public sealed class HealthOptions
{
    public const string SectionName = "IngestFleet:Health";

    /// <summary>Port of <c>GET /healthz</c> (0 = off).</summary>
    /// <value>Default 0.</value>
    public int Port { get; set; }

    /// <value>Default 127.0.0.1 (use + to listen on every interface inside a container).</value>
    public string Host { get; set; } = "127.0.0.1";
}

/// <summary>
/// <c>GET /healthz</c> for orchestrators: 200 when every check (broker bus, object store, model loaded and golden
/// pack passed) is healthy, 503 otherwise, with each check's status and description as JSON. A plain HttpListener,
/// so the worker needs no web framework.
/// </summary>
public sealed class HealthEndpoint(HealthCheckService checks, IOptions<HealthOptions> options, ILogger<HealthEndpoint> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        if (o.Port <= 0) return;
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://{o.Host}:{o.Port}/");
        listener.Start();
        logger.LogInformation("health endpoint on http://{Host}:{Port}/healthz", o.Host, o.Port);
        using var registration = stoppingToken.Register(listener.Stop);
        while (!stoppingToken.IsCancellationRequested)
        {
            HttpListenerContext context;
            try { context = await listener.GetContextAsync(); }
            catch (Exception) when (stoppingToken.IsCancellationRequested) { break; }
            catch (HttpListenerException) { break; }
            try
            {
                if (context.Request.Url?.AbsolutePath != "/healthz")
                {
                    context.Response.StatusCode = 404;
                    continue;
                }
                var report = await checks.CheckHealthAsync(stoppingToken);
                context.Response.StatusCode = report.Status == HealthStatus.Healthy ? 200 : 503;
                context.Response.ContentType = "application/json";
                await JsonSerializer.SerializeAsync(context.Response.OutputStream, new
                {
                    status = report.Status.ToString(),
                    checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), description = e.Value.Description }),
                }, cancellationToken: stoppingToken);
            }
            finally
            {
                context.Response.Close();
            }
        }
    }
}
