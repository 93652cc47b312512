using IngestFleet.Embedding.Models;
using IngestFleet.Storage.S3;
using Microsoft.Extensions.Configuration;

namespace IngestFleet.Worker.Bundles;

/// <summary>
/// The model a worker serves: a local manifest, revision folder or bundled revision name (<see cref="ModelLocator"/>),
/// or a tenant's archived bundle <c>s3://BUCKET/models/{tenant}/{revision}</c>, downloaded into the local cache
/// (<c>IngestFleet:ModelBundle:CacheDirectory</c>) and checked file by file against its SHA256SUMS before it loads; the
/// golden pack then runs on the worker's EP when the host starts, before anything is consumed. A worker serving a
/// bundle only embeds for tenants that have that revision archived (<see cref="TenantBundlePolicy"/>).
/// </summary>
public static class WorkerModels
{
    public const string BucketKey = "IngestFleet:ModelBundle:Bucket";
    public const string EnforceKey = "IngestFleet:ModelBundle:Enforce";

    public static string DefaultCacheDirectory =>
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create), "ingestfleet", "models");

    public static async Task<ModelManifest> LoadAsync(string? model, IConfigurationManager configuration, CancellationToken ct)
    {
        if (!ModelBundles.TryParseUri(model, out var bucket, out var tenant, out var revision))
        {
            if (model is not null && model.StartsWith("s3://", StringComparison.OrdinalIgnoreCase))
                throw new ModelBundleException($"{model}: a bundle is named s3://BUCKET/models/TENANT/REVISION");
            return ModelLocator.Load(model);
        }
        using var store = new S3ObjectStore((configuration.GetSection(S3Options.SectionName).Get<S3Options>() ?? new S3Options()).ForBucket(bucket));
        var cache = configuration["IngestFleet:ModelBundle:CacheDirectory"] is { Length: > 0 } c ? c : DefaultCacheDirectory;
        var manifestPath = await ModelBundles.DownloadAsync(store, tenant, revision, cache, ct);
        configuration[BucketKey] = bucket;
        configuration[EnforceKey] = "true";
        return ManifestLoader.Load(manifestPath);
    }
}
