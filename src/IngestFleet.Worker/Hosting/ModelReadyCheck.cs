using IngestFleet.Embedding.Inference;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace IngestFleet.Worker.Hosting;

/// <summary>Readiness: the model is loaded and passed its golden pack on this EP.</summary>
internal sealed class ModelReadyCheck(Embedder embedder) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(HealthCheckResult.Healthy($"{embedder.Manifest.Revision} on {embedder.ExecutionProvider.Name()}, golden distance {embedder.GoldenWorstDistance:G3}"));
}
