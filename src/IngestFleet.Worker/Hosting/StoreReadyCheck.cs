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
#pragma warning disable CA1031 // any failure of the probe means "not ready", with its message
        catch (Exception e)
#pragma warning restore CA1031
        {
            return HealthCheckResult.Unhealthy($"{store.Location}: {e.Message}", e);
        }
    }
}
