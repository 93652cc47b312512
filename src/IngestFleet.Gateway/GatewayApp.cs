using System.ComponentModel.DataAnnotations;
using IngestFleet.Worker;
using IngestFleet.Worker.Limits;
using IngestFleet.Worker.Publishing;
using IngestFleet.Worker.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace IngestFleet.Gateway;

/// <summary>Gateway settings. Bound from <c>IngestFleet:Gateway</c>.</summary>
public sealed class GatewayOptions
{
    public const string SectionName = "IngestFleet:Gateway";

    /// <value>Default 1,000 jobs per POST.</value>
    [Range(1, 100_000)] public int MaxJobsPerRequest { get; set; } = 1_000;

    /// <summary>Request bodies above this are refused with 413 before they are read.</summary>
    /// <value>Default 4 MiB.</value>
    [Range(1_024, 256L * 1024 * 1024)] public long MaxRequestBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>POST /v1/jobs requests handled at once; one more is answered 503 with Retry-After at once (no queue),
    /// so memory is bounded by this × <see cref="MaxRequestBytes"/>.</summary>
    /// <value>Default 64.</value>
    [Range(1, 10_000)] public int MaxConcurrentRequests { get; set; } = 64;

    /// <summary>How long one request may wait for broker confirms before it is answered 503.</summary>
    /// <value>Default 10 s.</value>
    [Range(0.1, 300)] public double PublishTimeoutSeconds { get; set; } = 10;
}

/// <summary>
/// The ingest gateway: <c>POST /v1/jobs</c>, <c>GET /v1/limits</c>, <c>GET /healthz</c>. Built from configuration
/// (the same <c>IngestFleet:*</c> keys as the worker) so the CLI and the tests host the same thing.
/// </summary>
public static class GatewayApp
{
    public static WebApplication Build(IEnumerable<KeyValuePair<string, string?>> overrides, string urls, LogLevel minimumLevel = LogLevel.Information)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.AddEnvironmentVariables();
        builder.Configuration.AddInMemoryCollection(overrides);
        builder.Logging.SetMinimumLevel(minimumLevel);
        builder.WebHost.UseUrls(urls);
        var config = builder.Configuration;
        var services = builder.Services;
        services.AddOptions<FleetOptions>().Bind(config.GetSection(FleetOptions.SectionName)).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<RabbitMqOptions>().Bind(config.GetSection(RabbitMqOptions.SectionName));
        services.AddOptions<GatewayOptions>().Bind(config.GetSection(GatewayOptions.SectionName)).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<LimitsOptions>().Bind(config.GetSection(LimitsOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<LimitsOptions>, LimitsValidator>();
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<FleetOptions>>().Value);
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<RabbitMqOptions>>().Value);
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<LimitsOptions>>().Value);
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<GatewayOptions>>().Value);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(sp => new BrokerLink(sp.GetRequiredService<RabbitMqOptions>(), "ingestfleet-gateway"));
        services.AddSingleton<QueueMonitor>();
        services.AddSingleton(sp => new AdmissionControl(sp.GetRequiredService<QueueMonitor>(),
            PublishedLimits.Resolve(sp.GetRequiredService<FleetOptions>(), sp.GetRequiredService<LimitsOptions>())));
        services.AddSingleton<RawJobPublisher>();
        services.AddSingleton<JobsEndpoint>();
        services.AddHostedService<TopologyOnStart>();
        services.AddIngestFleetTelemetry("ingestfleet-gateway");
        builder.WebHost.ConfigureKestrel((ctx, k) =>
            k.Limits.MaxRequestBodySize = ctx.Configuration.GetSection(GatewayOptions.SectionName).Get<GatewayOptions>()?.MaxRequestBytes ?? new GatewayOptions().MaxRequestBytes);

        var maxConcurrent = config.GetSection(GatewayOptions.SectionName).Get<GatewayOptions>()?.MaxConcurrentRequests ?? new GatewayOptions().MaxConcurrentRequests;
        services.AddRateLimiter(o =>
        {
            o.AddConcurrencyLimiter("jobs", l => { l.PermitLimit = maxConcurrent; l.QueueLimit = 0; });
            o.RejectionStatusCode = StatusCodes.Status503ServiceUnavailable;
            o.OnRejected = async (ctx, ct) =>
            {
                ctx.HttpContext.Response.Headers.RetryAfter = "1";
                await Results.Problem(statusCode: 503, title: "The gateway is at its concurrent-request limit; nothing was accepted",
                    detail: $"{maxConcurrent} requests are being handled. Retry after 1 s.").ExecuteAsync(ctx.HttpContext);
            };
        });

        var app = builder.Build();
        app.UseRateLimiter();
        app.MapPost("/v1/jobs", (HttpContext http, JobsEndpoint endpoint) => endpoint.PostAsync(http)).RequireRateLimiting("jobs");
        app.MapGet("/v1/limits", async (AdmissionControl admission, QueueMonitor monitor, CancellationToken ct) =>
        {
            var snapshot = await monitor.GetAsync(ct);
            return Results.Json(new
            {
                queues = admission.Limits.Select(l => new
                {
                    limit = l,
                    current = snapshot.Queues.GetValueOrDefault(l.Priority),
                }),
                broker_error = snapshot.BrokerError,
                hysteresis = "shedding starts when depth passes max_depth and stops once depth is at or below resume_depth",
            });
        });
        app.MapGet("/healthz", async (QueueMonitor monitor, CancellationToken ct) =>
        {
            var snapshot = await monitor.GetAsync(ct);
            return snapshot.BrokerReachable
                ? Results.Json(new { status = "Healthy", broker = "reachable" })
                : Results.Json(new { status = "Unhealthy", broker = snapshot.BrokerError }, statusCode: StatusCodes.Status503ServiceUnavailable);
        });
        return app;
    }

    /// <summary>The address Kestrel actually bound (useful with port 0).</summary>
    public static Uri BoundAddress(this WebApplication app) =>
        new(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    /// <summary>Declares the queues at start so jobs accepted before any worker starts are kept; a broker that is down
    /// at start is not fatal (requests get 503 until it answers, and publishing declares again).</summary>
    private sealed class TopologyOnStart(RabbitMqOptions rabbit, FleetOptions fleet, ILogger<TopologyOnStart> logger) : IHostedService
    {
        public async Task StartAsync(CancellationToken cancellationToken)
        {
            try
            {
                await FleetTopology.DeclareAsync(rabbit, fleet, cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning("RabbitMQ at {Broker} is not reachable at start ({Error}); answering 503 until it is", BrokerLink.Redacted(rabbit.Uri), e.Message);
            }
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
