using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace IngestFleet.ServiceDefaults;

/// <summary>
/// Serves <see cref="HealthEndpoints"/> for a generic-host service (the worker, which has no web server of its own)
/// on <see cref="HealthOptions.Port"/>: a small Kestrel app that evaluates the host's own health checks.
/// </summary>
public sealed class HealthServer(HealthCheckService checks, IOptions<HealthOptions> options, ILogger<HealthServer> logger) : IHostedService, IAsyncDisposable
{
    private WebApplication? _app;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        if (o.Port <= 0) return;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://{o.Host}:{o.Port}");
        builder.Services.AddSingleton(checks); // the host's checks, not a second registry
        _app = builder.Build();
        _app.MapDefaultHealthChecks();
        await _app.StartAsync(cancellationToken);
        logger.LogInformation("health endpoints on http://{Host}:{Port}/healthz/live and /healthz/ready", o.Host, o.Port);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is not null) await _app.StopAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null) await _app.DisposeAsync();
    }
}
