using IngestFleet.Embedding.Inference;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace IngestFleet.Worker.Hosting;

/// <summary>Readiness: the model is loaded, passed its golden pack on this EP, and the EP holds the graph.</summary>
internal sealed class ModelReadyCheck(Embedder embedder) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var summary = $"{embedder.Manifest.Revision} on {embedder.ExecutionProvider.Name()}, golden distance {embedder.GoldenWorstDistance:G3}, " +
                      $"{embedder.Placement.ShareText} (minimum {embedder.Manifest.MinEpNodeShare:P0}), " +
                      $"{embedder.Placement.FallbackCount} fallback node(s), {embedder.UnexplainedFallbackCount} unexplained";
        // An accelerator that holds too little of the graph computes on the CPU while billed as an accelerator: unhealthy.
        // Unexplained fallbacks do not stop serving (the golden pack passed), but the node is degraded until explained.
        return Task.FromResult(!embedder.HoldsGraph ? HealthCheckResult.Unhealthy(summary)
            : embedder.UnexplainedFallbackCount > 0 ? HealthCheckResult.Degraded(summary) : HealthCheckResult.Healthy(summary));
    }
}
