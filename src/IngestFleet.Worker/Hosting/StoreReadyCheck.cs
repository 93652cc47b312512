using IngestFleet.Storage;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace IngestFleet.Worker.Hosting;

/// <summary>Readiness: the object store answers.</summary>
internal sealed class StoreReadyCheck(IObjectStore store) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await store.ProbeAsync(cancellationToken);
            return HealthCheckResult.Healthy(store.Location);
        }
        catch (Exception e)
        {
            return HealthCheckResult.Unhealthy($"{store.Location}: {e.Message}", e);
        }
    }
}
