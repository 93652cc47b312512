using Microsoft.Extensions.Options;
using System.IO.Enumeration;

namespace IngestFleet.Worker.Fetching;

/// <summary>
/// Which s3:// sources each tenant's jobs may read. Bound from <c>IngestFleet:SourcePolicy</c>:
/// <c>S3Sources:{tenant}:{n}</c> = <c>bucket/prefix/*</c> patterns (<c>*</c> any characters, <c>?</c> one; an <c>s3://</c>
/// prefix is optional). Once any tenant is listed (or <see cref="Enforce"/> is set), a job whose s3:// source matches
/// none of its tenant's patterns is dead-lettered <c>source_forbidden</c> before any fetch, and a tenant that is not
/// listed may read no s3:// source at all. The source is judged the way the fetcher will read it (dot segments
/// resolved, escapes decoded): <c>s3://acme/../victim/x.jpg</c> is judged as <c>victim/x.jpg</c>, the object it would fetch.
/// https:// sources are governed by <see cref="FetchOptions.AllowedHosts"/> and the SSRF guard. A fleet worker refuses to
/// start without an allow-list unless <see cref="RequireAllowList"/> is turned off.
/// </summary>
public sealed class SourcePolicyOptions
{
    public const string SectionName = "IngestFleet:SourcePolicy";

    /// <summary>Refuse every s3:// source of unlisted tenants even while no tenant is listed.</summary>
    public bool Enforce { get; set; }

    /// <summary>A fleet worker (RabbitMQ transport) refuses to start while no allow-list is enforced: without one, any
    /// tenant's job reads any object the worker's credentials reach (other tenants' images, the fleet's vectors, dead
    /// letters and model bundles). <c>false</c> is the explicit opt-out (a single-tenant fleet); the worker then starts
    /// and logs a warning. The embedded mode reads local files and is not affected.</summary>
    public bool RequireAllowList { get; set; } = true;

    /// <summary>Why a fleet worker with these options must not start, or null when it may.</summary>
    public string? RefusalForFleetWorker() => Enforced || !RequireAllowList
        ? null
        : $"no s3:// source allow-list. Set {SectionName}:S3Sources:TENANT:N = BUCKET/PREFIX/* for every tenant the fleet serves " +
          $"(chart: worker.sourcePolicy.s3Sources; environment: IngestFleet__SourcePolicy__S3Sources__TENANT__0), or {SectionName}:Enforce=true " +
          $"to refuse every s3:// source, or opt out explicitly with {SectionName}:RequireAllowList=false (any tenant's job may then read " +
          "any object this worker's credentials reach)";

    public Dictionary<string, string[]> S3Sources { get; } = new(StringComparer.Ordinal);

    public bool Enforced => Enforce || S3Sources.Count > 0;

    /// <summary>Whether the tenant may read the source; when not, why.</summary>
    public bool Allows(string tenant, string source, out string? why)
    {
        why = null;
        if (!Enforced || !Uri.TryCreate(source, UriKind.Absolute, out var uri) || uri.Scheme != "s3") return true;
        var target = $"{uri.Host}/{Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'))}";
        if (target.Split('/').Any(segment => segment is "." or ".."))
        {
            why = $"s3://{target}: a key with '.' or '..' segments is refused while an allow-list is enforced (servers and SDKs differ on them)";
            return false;
        }
        if (S3Sources.TryGetValue(tenant, out var patterns)
            && patterns.Any(p => FileSystemName.MatchesSimpleExpression(p.StartsWith("s3://", StringComparison.Ordinal) ? p[5..] : p, target, ignoreCase: false)))
            return true;
        why = patterns is { Length: > 0 }
            ? $"s3://{target} is not on tenant {tenant}'s source allow-list ({string.Join(", ", patterns)})"
            : $"tenant {tenant} has no s3:// source allow-list (IngestFleet:SourcePolicy:S3Sources:{tenant})";
        return false;
    }
}

/// <summary>A fleet worker's start-up check: no allow-list and no explicit opt-out is a configuration error.</summary>
internal sealed class FleetWorkerSourcePolicy : IValidateOptions<SourcePolicyOptions>
{
    public ValidateOptionsResult Validate(string? name, SourcePolicyOptions options) =>
        options.RefusalForFleetWorker() is { } why ? ValidateOptionsResult.Fail(why) : ValidateOptionsResult.Success;
}
