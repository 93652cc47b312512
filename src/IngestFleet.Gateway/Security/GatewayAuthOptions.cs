using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;

namespace IngestFleet.Gateway.Security;

/// <summary>
/// Who may submit jobs for which tenant, and how fast. Bound from <c>IngestFleet:Gateway:Auth</c>. API keys are never
/// stored: each entry holds the SHA-256 (hex) of a key, in configuration or in <see cref="KeysFile"/> (a mounted secret).
/// A request carries its key as <c>Authorization: Bearer KEY</c> or <c>X-Api-Key: KEY</c>: none or an unknown one is
/// answered 401, a job for a tenant the key is not bound to 403. Create an entry with <c>ingestfleet gateway-key</c>.
/// </summary>
public sealed class GatewayAuthOptions
{
    public const string SectionName = "IngestFleet:Gateway:Auth";

    /// <summary>Accept requests without a key, for any tenant (a development stack only). Without it the gateway refuses
    /// to start with no keys configured.</summary>
    public bool AllowAnonymous { get; set; }

    public ApiKeyEntry[] Keys { get; set; } = [];

    /// <summary>A JSON file with more entries (<c>[{"name": …, "sha256": …, "tenants": […]}]</c>), e.g. a Kubernetes secret.</summary>
    public string? KeysFile { get; set; }

    /// <summary>Jobs per second one tenant may submit, sustained (a token bucket per tenant); past it, 429 with Retry-After.</summary>
    /// <value>Default 500.</value>
    [Range(1, 1_000_000)] public int TenantJobsPerSecond { get; set; } = 500;

    /// <summary>The bucket's size: how many jobs a tenant may submit at once after a quiet spell.</summary>
    /// <value>Default 5,000 (five requests of the default 1,000-job maximum).</value>
    [Range(1, 10_000_000)] public int TenantBurst { get; set; } = 5_000;

    /// <summary>Per-tenant rates that replace <see cref="TenantJobsPerSecond"/> and <see cref="TenantBurst"/> for that
    /// tenant (<c>TenantRates:acme:JobsPerSecond</c>, <c>TenantRates:acme:Burst</c>; an unset field keeps the default).</summary>
    public Dictionary<string, TenantRate> TenantRates { get; } = new(StringComparer.Ordinal);

    /// <summary>The sustained rate and burst of this tenant.</summary>
    public (int JobsPerSecond, int Burst) RateOf(string tenant) => TenantRates.TryGetValue(tenant, out var r)
        ? (Math.Max(1, r.JobsPerSecond ?? TenantJobsPerSecond), Math.Max(1, r.Burst ?? TenantBurst))
        : (TenantJobsPerSecond, TenantBurst);
}

/// <summary>One API key: a name for logs, the SHA-256 of the key (64 hex digits) and the tenants it may submit for
/// (<c>*</c>: every tenant).</summary>
public sealed class ApiKeyEntry
{
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("sha256")] public string Sha256 { get; set; } = "";
    [JsonPropertyName("tenants")] public string[] Tenants { get; set; } = [];
}

/// <summary>One tenant's submission rate (<see cref="GatewayAuthOptions.TenantRates"/>).</summary>
public sealed class TenantRate
{
    public int? JobsPerSecond { get; set; }
    public int? Burst { get; set; }
}
