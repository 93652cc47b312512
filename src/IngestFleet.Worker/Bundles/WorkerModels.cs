using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Models;
using IngestFleet.Storage.S3;
using Microsoft.Extensions.Configuration;

namespace IngestFleet.Worker.Bundles;

/// <summary>Where a tenant-bound bundle came from: <c>s3://{Bucket}/models/{Tenant}/{Revision}</c>, cached locally
/// under <see cref="CacheDirectory"/>.</summary>
public sealed record ModelBundleSource(string Bucket, string Tenant, string Revision, string CacheDirectory)
{
    public string Uri => $"s3://{Bucket}/models/{Tenant}/{Revision}";
}

/// <summary>The model a worker serves, and the bundle it came from (null for a local manifest, which allows every
/// tenant).</summary>
public sealed record LoadedModel(ModelManifest Manifest, ModelBundleSource? Bundle)
{
    public static LoadedModel Local(ModelManifest manifest) => new(manifest, null);
}

/// <summary>
/// The model a worker serves: a local manifest, revision folder or bundled revision name (<see cref="ModelLocator"/>),
/// or a tenant's archived bundle <c>s3://BUCKET/models/{tenant}/{revision}</c>, downloaded into the local cache
/// (<c>IngestFleet:ModelBundle:CacheDirectory</c>) and checked file by file against its SHA256SUMS before it loads; the
/// golden pack then runs on the worker's EP when the host starts, before anything is consumed. A worker serving a
/// bundle only embeds for tenants that have that revision archived (<see cref="TenantBundlePolicy"/>).
/// </summary>
public static class WorkerModels
{
    public const string ModelKey = "IngestFleet:Model";
    public const string CacheDirectoryKey = "IngestFleet:ModelBundle:CacheDirectory";

    /// <summary>Where bundles are cached when <c>IngestFleet:ModelBundle:CacheDirectory</c> is not set: the user's local
    /// application data, or, for a service user whose home cannot be written (the macOS daemon's is /var/empty), a
    /// folder of its own under the temp directory. The launchd plist sets the key to /opt/ingestfleet/var/models.</summary>
    public static string DefaultCacheDirectory
    {
        get
        {
            try
            {
                var home = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify);
                if (home.Length > 0 && Path.IsPathRooted(home))
                {
                    var dir = Path.Combine(home, "ingestfleet", "models");
                    Directory.CreateDirectory(dir);
                    var probe = Path.Combine(dir, $".write-{Environment.ProcessId}");
                    File.WriteAllBytes(probe, []);
                    File.Delete(probe);
                    return dir;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // not writable: fall through
            }
            return Path.Combine(Path.GetTempPath(), $"ingestfleet-{Environment.UserName}", "models");
        }
    }

    /// <summary>Loads the model named by <c>IngestFleet:Model</c> (default: the bundled default revision).</summary>
    public static Task<LoadedModel> LoadAsync(IConfiguration configuration, CancellationToken ct) => LoadAsync(configuration[ModelKey], configuration, ct);

    /// <summary>Loads <paramref name="model"/>; the S3 settings (<c>IngestFleet:S3</c>) reach an s3:// bundle. Reads
    /// configuration, never writes it.</summary>
    public static async Task<LoadedModel> LoadAsync(string? model, IConfiguration configuration, CancellationToken ct)
    {
        if (!ModelBundles.TryParseUri(model, out var bucket, out var tenant, out var revision))
        {
            if (model is not null && model.StartsWith("s3://", StringComparison.OrdinalIgnoreCase))
                throw new ModelBundleException($"{model}: a bundle is named s3://BUCKET/models/TENANT/REVISION");
            return LoadedModel.Local(ModelLocator.Load(string.IsNullOrEmpty(model) ? null : model));
        }
        using var s3 = new S3ObjectStore((configuration.GetSection(S3Options.SectionName).Get<S3Options>() ?? new S3Options()).ForBucket(bucket));
        // The same retry policy as every other store call: a node starting while S3 blips waits, it does not fail.
        var store = new IngestFleet.Storage.Resilience.ResilientObjectStore(s3,
            configuration.GetSection(IngestFleet.Storage.Resilience.StoreRetryOptions.SectionName).Get<IngestFleet.Storage.Resilience.StoreRetryOptions>()
            ?? new IngestFleet.Storage.Resilience.StoreRetryOptions());
        var cache = configuration[CacheDirectoryKey] is { Length: > 0 } c ? c : DefaultCacheDirectory;
        var manifestPath = await ModelBundles.DownloadAsync(store, tenant, revision, cache, ct);
        var manifest = ManifestLoader.Load(manifestPath);
        // A Core ML compile archived with the bundle goes where Core ML looks for it: no cold compile on this node.
        var embedder = configuration.GetSection(EmbedderOptions.SectionName).Get<EmbedderOptions>() ?? new EmbedderOptions();
        await ModelBundles.PlaceCoreMLCacheAsync(store, tenant, manifest, embedder, ct);
        return new LoadedModel(manifest, new ModelBundleSource(bucket, tenant, revision, cache));
    }
}
