using System.Collections.Concurrent;
using IngestFleet.Storage;

namespace IngestFleet.Worker.Bundles;

/// <summary>
/// Which tenants a worker may embed for. A worker loaded from a tenant-bound bundle
/// (<c>--model s3://BUCKET/models/{tenant}/{revision}</c>) embeds a job only when the job's tenant has that revision
/// archived too (<c>models/{tenant}/{revision}/SHA256SUMS</c>); other jobs are dead-lettered
/// <c>model_bundle_missing</c>. Answers are cached for a minute. Workers started from a local manifest allow every tenant.
/// </summary>
public sealed class TenantBundlePolicy(IObjectStore? store, bool enforced, TimeProvider time)
{
    private static readonly TimeSpan CacheFor = TimeSpan.FromMinutes(1);
    private readonly ConcurrentDictionary<(string Tenant, string Revision), (bool Has, DateTimeOffset At)> _cache = new();

    public bool Enforced => enforced && store is not null;

    public static TenantBundlePolicy AllowAll(TimeProvider time) => new(null, false, time);

    public async Task<bool> HasBundleAsync(string tenant, string revision, CancellationToken ct)
    {
        if (!Enforced) return true;
        var now = time.GetUtcNow();
        if (_cache.TryGetValue((tenant, revision), out var hit) && now - hit.At < CacheFor) return hit.Has;
        var has = await store!.ExistsAsync(ModelBundles.Prefix(tenant, revision) + ModelBundles.SumsFile, ct);
        _cache[(tenant, revision)] = (has, now);
        return has;
    }
}
