using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace IngestFleet.Gateway;

/// <summary>Titles the gateway's OpenAPI document and points at the job schema it validates against.</summary>
internal sealed class GatewayOpenApi : IOpenApiDocumentTransformer
{
    public Task TransformAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        document.Info = new OpenApiInfo
        {
            Title = "IngestFleet gateway",
            Version = "v1",
            Description = "Submit catalog image jobs to the fleet's priority queues. Jobs follow the JSON schema at GET /v1/schema " +
                          "(priority required, unknown fields refused). 202: published with broker confirms; 400: per-job, per-field problems; " +
                          "413: body or job count over the limit; 429 + Retry-After: a queue is past its published limit; " +
                          "503 + Retry-After: broker unavailable or the gateway at its concurrency limit. Nothing is buffered.",
        };
        return Task.CompletedTask;
    }
}
