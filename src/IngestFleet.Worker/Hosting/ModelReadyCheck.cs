using IngestFleet.Embedding.Inference;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace IngestFleet.Worker.Hosting;

/// <summary>Readiness: the model is loaded and passed its golden pack on this EP.</summary>
internal sealed class ModelReadyCheck(Embedder embedder) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var summary = $"{embedder.Manifest.Revision} on {embedder.ExecutionProvider.Name()}, golden distance {embedder.GoldenWorstDistance:G3}, " +
                      $"{embedder.Placement.FallbackNodes.Count} fallback node(s), {embedder.UnexplainedFallbacks.Count} unexplained";
        // Unexplained fallbacks do not stop serving (the golden pack passed), but the node is degraded until explained.
        return Task.FromResult(embedder.UnexplainedFallbacks.Count > 0 ? HealthCheckResult.Degraded(summary) : HealthCheckResult.Healthy(summary));
    }
}
