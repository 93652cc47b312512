using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace IngestFleet.ServiceDefaults;

/// <summary>
/// The health endpoints every IngestFleet service answers, with ASP.NET Core health checks:
/// <list type="bullet">
/// <item><c>GET /healthz/live</c>: liveness, checks tagged <c>live</c> only (the process runs and is not wedged);
/// an orchestrator restarts the process when it fails.</item>
/// <item><c>GET /healthz/ready</c>: readiness, checks tagged <c>ready</c> (model loaded and golden-checked, broker and
/// store reachable); an orchestrator stops sending work while it fails.</item>
/// <item><c>GET /healthz</c>: every check.</item>
/// </list>
/// 200 when healthy, 503 otherwise, with each check's status and description as JSON.
/// </summary>
public static class HealthEndpoints
{
    public const string LiveTag = "live";
    public const string ReadyTag = "ready";

    /// <summary>Registers the health-check service with a liveness check that only says the process answers.</summary>
    public static IHealthChecksBuilder AddDefaultHealthChecks(this IServiceCollection services) =>
        services.AddHealthChecks().AddCheck("self", () => HealthCheckResult.Healthy("running"), tags: [LiveTag]);

    public static IEndpointRouteBuilder MapDefaultHealthChecks(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapHealthChecks("/healthz/live", Options(c => c.Tags.Contains(LiveTag)));
        endpoints.MapHealthChecks("/healthz/ready", Options(c => c.Tags.Contains(ReadyTag)));
        endpoints.MapHealthChecks("/healthz", Options(_ => true));
        return endpoints;
    }

    private static HealthCheckOptions Options(Func<HealthCheckRegistration, bool> predicate) => new()
    {
        Predicate = predicate,
        ResponseWriter = WriteJsonAsync,
        ResultStatusCodes =
        {
            [HealthStatus.Healthy] = StatusCodes.Status200OK,
            [HealthStatus.Degraded] = StatusCodes.Status200OK,
            [HealthStatus.Unhealthy] = StatusCodes.Status503ServiceUnavailable,
        },
    };

    private static Task WriteJsonAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        return JsonSerializer.SerializeAsync(context.Response.Body, new
        {
            status = report.Status.ToString(),
            // The endpoints answer anyone (probes carry no credentials): a failing check's text (a broker's or a store's
            // error, possibly naming hosts) stays in the host's log; the answer says which check failed.
            checks = report.Entries.ToDictionary(e => e.Key, e => new
            {
                status = e.Value.Status.ToString(),
                description = e.Value.Status == HealthStatus.Healthy ? e.Value.Description : "failing (details in the host's log)",
            }),
        }, cancellationToken: context.RequestAborted);
    }
}
