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
                          "503 + Retry-After: broker unavailable or the gateway at its concurrency limit. Nothing is buffered. " +
                          "Authentication: an API key as Authorization: Bearer KEY or X-Api-Key: KEY; 401 without a valid key, " +
                          "403 for a job whose tenant the key is not bound to; each tenant has a submission rate (token bucket), " +
                          "past it 429 + Retry-After.",
        };
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes["ApiKey"] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.ApiKey, In = ParameterLocation.Header, Name = "X-Api-Key",
            Description = "An API key bound to the tenants it may submit for (configuration holds only its SHA-256).",
        };
        document.Components.SecuritySchemes["Bearer"] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http, Scheme = "bearer", Description = "The same API key as a bearer token.",
        };
        foreach (var path in document.Paths.Where(p => p.Key == "/v1/jobs"))
            foreach (var operation in path.Value.Operations?.Values ?? Enumerable.Empty<OpenApiOperation>())
                operation.Security =
                [
                    new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("ApiKey", document)] = [] },
                    new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("Bearer", document)] = [] },
                ];
        return Task.CompletedTask;
    }
}
