using IngestFleet.Contracts;
using IngestFleet.Messaging;
using IngestFleet.Messaging.Broker;
using IngestFleet.Messaging.Limits;
using IngestFleet.Messaging.Publishing;
using IngestFleet.Gateway.Security;
using IngestFleet.ServiceDefaults;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace IngestFleet.Gateway;

/// <summary>
/// The ingest gateway: <c>POST /v1/jobs</c>, <c>POST /v1/embed</c>, <c>GET /v1/limits</c>, <c>GET /v1/schema</c>, the OpenAPI document at
/// <c>GET /openapi/v1.json</c>, and the health endpoints (<c>/healthz/live</c>, <c>/healthz/ready</c>, <c>/healthz</c>).
/// Built from configuration (the same <c>IngestFleet:*</c> keys as the worker) so the gateway host, the CLI and the
/// tests host the same thing.
/// </summary>
public static class GatewayApp
{
    /// <summary>Where the gateway listens when neither the command line nor <c>ASPNETCORE_URLS</c> says.</summary>
    public const string DefaultUrls = "http://127.0.0.1:8080";

    /// <summary>
    /// The one way to build the gateway host, used by <c>ingestfleet-gateway</c>, <c>ingestfleet gateway</c> and the
    /// tests. Configuration precedence, highest first: command-line options (<see cref="GatewayHostSpec.Options"/>, then
    /// <see cref="GatewayHostSpec.Args"/>), environment variables, <c>appsettings.{Environment}.json</c>,
    /// <c>appsettings.json</c>, the options classes' defaults. Listens on <see cref="GatewayHostSpec.Urls"/>, else the
    /// configured <c>urls</c> (<c>ASPNETCORE_URLS</c>, <c>--urls=…</c>), else <see cref="DefaultUrls"/>.
    /// </summary>
    public static WebApplication Build(GatewayHostSpec spec)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [.. spec.Args] });
        builder.Configuration.AddInMemoryCollection(spec.Options);
        builder.Logging.SetMinimumLevel(spec.MinimumLevel);
        builder.WebHost.UseUrls(spec.Urls ?? builder.Configuration["urls"] ?? DefaultUrls);
        builder.AddServiceDefaults("ingestfleet-gateway");
        builder.AddGatewayServices();
        spec.ConfigureServices?.Invoke(builder.Services);

        var app = builder.Build();
        _ = app.Services.GetRequiredService<ApiKeyRegistry>(); // no keys and no AllowAnonymous: refuse to start, naming both
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapGatewayEndpoints();
        return app;
    }

    /// <param name="options">Command-line options as configuration keys (they win over the environment).</param>
    /// <param name="urls">Where Kestrel listens.</param>
    /// <param name="minimumLevel">Log level.</param>
    /// <param name="configureServices">Replaces services after the defaults (tests put a fake depth source or publisher here).</param>
    public static WebApplication Build(IEnumerable<KeyValuePair<string, string?>> options, string urls, LogLevel minimumLevel = LogLevel.Information,
        Action<IServiceCollection>? configureServices = null) =>
        Build(new GatewayHostSpec { Options = options.ToList(), Urls = urls, MinimumLevel = minimumLevel, ConfigureServices = configureServices });

    /// <summary>Options (each bound once, validated at start-up), the broker link, the depth monitor, admission, the
    /// publisher, the per-key and gateway-wide request slots and the OpenAPI document.</summary>
    public static IHostApplicationBuilder AddGatewayServices(this IHostApplicationBuilder builder)
    {
        var (services, config) = (builder.Services, builder.Configuration);
        services.AddMessagingOptions(config);
        services.AddValidatedOptions<GatewayOptions>(config, GatewayOptions.SectionName);
        services.AddValidatedOptions<GatewayAuthOptions>(config, GatewayAuthOptions.SectionName);
        services.AddSingleton<ApiKeyRegistry>();
        services.AddSingleton<TenantRateLimiter>();
        services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        services.AddAuthorization();
        services.AddBrokerServices("ingestfleet-gateway");
        services.AddSingleton(sp => new AdmissionControl(sp.GetRequiredService<IDepthSource>(),
            PublishedLimits.Resolve(sp.GetRequiredService<FleetOptions>(), sp.GetRequiredService<LimitsOptions>()), sp.GetRequiredService<LimitsOptions>()));
        services.AddSingleton<JobsEndpoint>();
        services.AddSingleton<IngestFleet.Messaging.Queries.QueryClient>();
        services.AddSingleton<EmbedEndpoint>();
        services.AddHostedService<TopologyOnStart>();
        services.AddHealthChecks().AddCheck<BrokerReadyCheck>("broker", tags: [HealthEndpoints.ReadyTag]);
        services.AddOpenApi(o => o.AddDocumentTransformer(new GatewayOpenApi()));
        services.AddOptions<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>()
            .Configure<IOptions<GatewayOptions>>((k, gateway) => k.Limits.MaxRequestBodySize = gateway.Value.MaxRequestBytes);
        services.AddSingleton<RequestSlots>();
        return builder;
    }

    public static WebApplication MapGatewayEndpoints(this WebApplication app)
    {
        var anonymous = app.Services.GetRequiredService<GatewayAuthOptions>().AllowAnonymous;
        var jobs = app.MapPost("/v1/jobs", (HttpContext http, JobsEndpoint endpoint) => endpoint.PostAsync(http));
        if (!anonymous) jobs.RequireAuthorization();
        jobs.WithName("SubmitJobs")
            .WithSummary("Submit catalog image jobs")
            .WithDescription("One job object, an array of jobs, or {\"jobs\": [...]}, each valid against GET /v1/schema. Validated whole, admitted whole " +
                             "against the target queues' published limits, then published with broker confirms before the answer.")
            .Accepts<EmbedCatalogImage[]>("application/json")
            .Produces<JobsAccepted>(StatusCodes.Status202Accepted)
            .ProducesProblems(StatusCodes.Status408RequestTimeout);
        var embed = app.MapPost("/v1/embed", (HttpContext http, EmbedEndpoint endpoint) => endpoint.PostAsync(http));
        if (!anonymous) embed.RequireAuthorization();
        embed.WithName("Embed")
            .WithSummary("Embed query texts and images now")
            .WithDescription("Texts and/or image sources (a small cap per request) embedded by a worker of the named model revision, in the most urgent " +
                             "class, over RabbitMQ request/reply with a deadline; the answer holds one vector per input, in order.")
            .Accepts<EmbedRequest>("application/json")
            .Produces<EmbedQueryReply>(StatusCodes.Status200OK)
            .ProducesProblems(StatusCodes.Status422UnprocessableEntity, StatusCodes.Status504GatewayTimeout);
        app.MapGet("/v1/limits", async (AdmissionControl admission, IDepthSource monitor, CancellationToken ct) =>
        {
            var snapshot = await monitor.GetAsync(ct);
            return Results.Json(new LimitsReport(
                admission.Limits.Select(l => new QueueLimitReport(l, snapshot.Queues.GetValueOrDefault(l.Priority))).ToList(),
                // Anonymous callers get whether the broker answers, not its error text (that is in the gateway's log).
                snapshot.BrokerError is null ? null : "the broker does not answer (details in the gateway's log)",
                "shedding starts when depth passes max_depth and stops once depth is at or below resume_depth"));
        }).WithName("GetLimits").WithSummary("Published queue limits and current depths").Produces<LimitsReport>();
        app.MapGet("/v1/schema", () => Results.Text(JobSchema.Text, "application/schema+json"))
            .WithName("GetJobSchema").WithSummary("The job JSON schema (the contract every producer and the worker use)");
        app.MapOpenApi();
        app.MapDefaultHealthChecks();
        return app;
    }

    /// <summary>The answers both POST endpoints share (400 with the fields at fault; 401, 403, 413, 429, 503 as problem
    /// details), plus <paramref name="more"/>.</summary>
    private static RouteHandlerBuilder ProducesProblems(this RouteHandlerBuilder route, params int[] more)
    {
        route.ProducesValidationProblem();
        foreach (var status in new[] { StatusCodes.Status401Unauthorized, StatusCodes.Status403Forbidden, StatusCodes.Status413PayloadTooLarge,
                     StatusCodes.Status429TooManyRequests, StatusCodes.Status503ServiceUnavailable }.Concat(more))
            route.ProducesProblem(status);
        return route;
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
                logger.LogWarning("RabbitMQ at {Broker} is not reachable at start ({Error}); answering 503 until it is", BrokerEndpoints.Describe(rabbit), e.Message);
            }
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>Readiness: the broker answers (a depth sample could be read).</summary>
    private sealed class BrokerReadyCheck(IDepthSource monitor) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            var snapshot = await monitor.GetAsync(cancellationToken);
            return snapshot.BrokerReachable ? HealthCheckResult.Healthy("broker reachable") : HealthCheckResult.Unhealthy(snapshot.BrokerError);
        }
    }
}

/// <summary>What one gateway host is built from (see <see cref="GatewayApp.Build(GatewayHostSpec)"/>).</summary>
public sealed record GatewayHostSpec
{
    /// <summary>Raw arguments in .NET's command-line configuration form (<c>--IngestFleet:RabbitMq:Uri=…</c>).</summary>
    public IReadOnlyList<string> Args { get; init; } = [];

    /// <summary>Parsed command-line options as configuration keys; they win over everything else.</summary>
    public IReadOnlyList<KeyValuePair<string, string?>> Options { get; init; } = [];

    /// <summary>Where Kestrel listens (<c>--urls</c>); null: configuration, then <see cref="GatewayApp.DefaultUrls"/>.</summary>
    public string? Urls { get; init; }

    public LogLevel MinimumLevel { get; init; } = LogLevel.Information;

    /// <summary>Replaces services after the defaults (tests put a fake depth source or publisher here).</summary>
    public Action<IServiceCollection>? ConfigureServices { get; init; }
}

/// <summary>202 answer of <c>POST /v1/jobs</c>.</summary>
public sealed record JobsAccepted(
    [property: System.Text.Json.Serialization.JsonPropertyName("accepted")] int Accepted,
    [property: System.Text.Json.Serialization.JsonPropertyName("item_ids")] IReadOnlyList<string> ItemIds,
    [property: System.Text.Json.Serialization.JsonPropertyName("queues")] IReadOnlyDictionary<string, int> Queues);

/// <summary>Answer of <c>GET /v1/limits</c>.</summary>
public sealed record LimitsReport(
    [property: System.Text.Json.Serialization.JsonPropertyName("queues")] IReadOnlyList<QueueLimitReport> Queues,
    [property: System.Text.Json.Serialization.JsonPropertyName("broker_error")] string? BrokerError,
    [property: System.Text.Json.Serialization.JsonPropertyName("hysteresis")] string Hysteresis);

/// <summary>One queue's published limit and its last depth sample.</summary>
public sealed record QueueLimitReport(
    [property: System.Text.Json.Serialization.JsonPropertyName("limit")] QueueLimit Limit,
    [property: System.Text.Json.Serialization.JsonPropertyName("current")] QueueSample? Current);
