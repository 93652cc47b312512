using IngestFleet.Embedding.Inference;
using System.Security.Cryptography;
using System.Text;
using IngestFleet.Contracts;
using IngestFleet.Embedding.Models;
using IngestFleet.Storage;

namespace IngestFleet.Worker.Bundles;

/// <summary>A bundle that cannot be archived or used; the message names the key or file and what to do.</summary>
public sealed class ModelBundleException(string message) : Exception(message);

/// <summary>One archived revision of a tenant: its key prefix and what its SHA256SUMS lists.</summary>
public sealed record ArchivedBundle(string Tenant, string Revision, string Prefix, IReadOnlyDictionary<string, string> Sums);

/// <summary>What a push did: whether it archived the bundle, and whether it archived a Core ML cache.</summary>
public sealed record BundlePushResult(bool Archived, bool CoreMLCacheArchived);

/// <summary>
/// Model bundles per tenant in the object store, the exact artifacts a node serves:
/// <c>models/{tenant}/{revision}/</c> holds <c>manifest.json</c>, the ONNX file, the golden pack (and a text tower's
/// graph, tokenizer files and text golden pack) and a <c>SHA256SUMS</c>
/// over them, written last, so a bundle without it is not archived. That is the bundle's identity: a different bundle is
/// never written over an archived revision. Beside it, outside the identity, <c>coreml-cache/{model-sha256}/</c> holds
/// the Core ML compiled model a Mac produced (with its own SHA256SUMS, written last): pushing the same revision from
/// another Mac adds nothing to the identity and is not refused, and a cache already archived for that model is kept.
/// Workers download a bundle (and its Core ML cache, when there is one) into a local cache, verify every checksum, and
/// place the compiled model where Core ML looks for it, so a node that has it never compiles cold.
/// </summary>
public static class ModelBundles
{
    public const string SumsFile = "SHA256SUMS";

    public static string Prefix(string tenant, string revision) => $"models/{tenant}/{revision}/";

    /// <summary>The files of a bundle's identity (relative path → full path): manifest, ONNX, golden pack, and the text
    /// tower's graph, tokenizer files and text golden pack when the manifest has one.</summary>
    public static SortedDictionary<string, string> LocalFiles(ModelManifest manifest)
    {
        var files = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["manifest.json"] = manifest.ManifestPath,
            [manifest.Onnx.File] = manifest.OnnxPath,
            [manifest.Golden.File] = manifest.GoldenPath,
        };
        if (manifest.Text is { } text)
            foreach (var file in text.Tokenizer.Files.Select(f => f.File).Append(text.Onnx.File).Append(text.Golden.File))
                files[file] = manifest.PathOf(file);
        return files;
    }

    /// <summary>The Core ML compiled-model files this machine holds for the model (relative to its cache folder).</summary>
    public static SortedDictionary<string, string> LocalCoreMLCache(ModelManifest manifest, EmbedderOptions options)
    {
        var files = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var cache = Embedder.CoreMLCacheFor(options, manifest);
        if (Directory.Exists(cache))
            foreach (var f in Directory.EnumerateFiles(cache, "*", SearchOption.AllDirectories))
            {
                var relative = Path.GetRelativePath(cache, f).Replace('\\', '/');
                if (relative == Embedder.CoreMLKeyedModelFile || relative.EndsWith(".tmp", StringComparison.Ordinal)) continue; // derived from the bundle on each node
                files[relative] = f;
            }
        return files;
    }

    public static string CoreMLCachePrefix(string tenant, string revision, string modelSha256) => $"{Prefix(tenant, revision)}coreml-cache/{modelSha256}/";

    public static string Sums(IEnumerable<KeyValuePair<string, string>> relativeToSha) =>
        string.Concat(relativeToSha.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Value}  {kv.Key}\n"));

    public static Dictionary<string, string> ParseSums(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split("  ", 2)).Where(p => p.Length == 2)
            .ToDictionary(p => p[1].Trim(), p => p[0].Trim(), StringComparer.Ordinal);

    /// <summary>Uploads a bundle (Archived false when the identical bundle was already archived) and this machine's
    /// Core ML cache for the model when it has one and none is archived yet. Throws when a different bundle is
    /// archived under the same revision.</summary>
    public static async Task<BundlePushResult> PushAsync(IObjectStore store, ModelManifest manifest, string tenant, EmbedderOptions options, CancellationToken ct)
    {
        if (!JobValidator.IsSafeSegment(tenant)) throw new ModelBundleException($"tenant '{tenant}' must be 1–128 letters, digits, '-', '_' or '.'");
        ManifestLoader.VerifyChecksum(manifest);
        var files = LocalFiles(manifest);
        var text = Sums(files.ToDictionary(kv => kv.Key, kv => Sha256(kv.Value), StringComparer.Ordinal));
        var prefix = Prefix(tenant, manifest.Revision);
        var archived = true;
        if (await store.GetAsync(prefix + SumsFile, ct) is { } existing)
        {
            if (Encoding.UTF8.GetString(existing) != text)
                throw new ModelBundleException($"{prefix}{SumsFile} already archives a different bundle for {manifest.Revision}: a revision names exact " +
                                               "weights, so give this export a new revision in its manifest");
            archived = false;
        }
        else
        {
            foreach (var (relative, path) in files)
                await store.PutAsync(prefix + relative, await File.ReadAllBytesAsync(path, ct), "application/octet-stream", ct);
            await store.PutAsync(prefix + SumsFile, Encoding.UTF8.GetBytes(text), "text/plain", ct); // last: the bundle is complete
        }

        var cache = LocalCoreMLCache(manifest, options);
        var cachePrefix = CoreMLCachePrefix(tenant, manifest.Revision, manifest.Onnx.Sha256);
        if (cache.Count == 0 || await store.ExistsAsync(cachePrefix + SumsFile, ct)) return new BundlePushResult(archived, false);
        foreach (var (relative, path) in cache)
            await store.PutAsync(cachePrefix + relative, await File.ReadAllBytesAsync(path, ct), "application/octet-stream", ct);
        await store.PutAsync(cachePrefix + SumsFile, Encoding.UTF8.GetBytes(Sums(cache.ToDictionary(kv => kv.Key, kv => Sha256(kv.Value), StringComparer.Ordinal))),
            "text/plain", ct);
        return new BundlePushResult(archived, true);
    }

    /// <summary>The archived revisions of a tenant (those with a SHA256SUMS).</summary>
    public static async Task<IReadOnlyList<ArchivedBundle>> ListAsync(IObjectStore store, string tenant, CancellationToken ct)
    {
        var bundles = new List<ArchivedBundle>();
        await foreach (var key in store.ListAsync($"models/{tenant}/", ct))
        {
            if (!key.EndsWith("/" + SumsFile, StringComparison.Ordinal)) continue;
            var revision = key[$"models/{tenant}/".Length..^(SumsFile.Length + 1)];
            if (revision.Contains('/', StringComparison.Ordinal)) continue;
            var sums = ParseSums(Encoding.UTF8.GetString(await store.GetAsync(key, ct) ?? []));
            bundles.Add(new ArchivedBundle(tenant, revision, Prefix(tenant, revision), sums));
        }
        return bundles.OrderBy(b => b.Revision, StringComparer.Ordinal).ToList();
    }

    /// <summary>Downloads an archived bundle into <paramref name="cacheDirectory"/>/{tenant}/{revision}, verifying every
    /// file against SHA256SUMS (files already cached with the right checksum are kept); returns the manifest path.</summary>
    public static async Task<string> DownloadAsync(IObjectStore store, string tenant, string revision, string cacheDirectory, CancellationToken ct)
    {
        var prefix = Prefix(tenant, revision);
        var sumsBytes = await store.GetAsync(prefix + SumsFile, ct)
            ?? throw new ModelBundleException($"no bundle archived at {prefix} ({SumsFile} missing): push one with `ingestfleet models push MANIFEST --tenant {tenant}`");
        var sums = ParseSums(Encoding.UTF8.GetString(sumsBytes));
        if (!sums.ContainsKey("manifest.json")) throw new ModelBundleException($"{prefix}{SumsFile} lists no manifest.json");
        var local = Path.Combine(cacheDirectory, tenant, revision);
        await DownloadVerifiedAsync(store, prefix, sums, local, ct);
        return Path.Combine(local, "manifest.json");
    }

    /// <summary>Places the bundle's archived Core ML compiled model, when there is one, in this node's Core ML cache
    /// folder for the model (<see cref="Embedder.CoreMLCacheFor"/>), unless the node already has one; returns whether
    /// it placed it. Every file is verified against the cache's SHA256SUMS.</summary>
    public static async Task<bool> PlaceCoreMLCacheAsync(IObjectStore store, string tenant, ModelManifest manifest, EmbedderOptions options, CancellationToken ct)
    {
        var target = Embedder.CoreMLCacheFor(options, manifest);
        // A compile is a b{batch}/ folder (one per static shape); the keyed model copy alone is not one.
        if (Directory.Exists(target) && Directory.EnumerateDirectories(target, "b*").Any()) return false;
        var prefix = CoreMLCachePrefix(tenant, manifest.Revision, manifest.Onnx.Sha256);
        if (await store.GetAsync(prefix + SumsFile, ct) is not { } sums) return false;
        var staging = target + $".download-{Guid.NewGuid():N}";
        await DownloadVerifiedAsync(store, prefix, ParseSums(Encoding.UTF8.GetString(sums)), staging, ct);
        Directory.CreateDirectory(target);
        foreach (var entry in Directory.EnumerateFileSystemEntries(staging))
        {
            var to = Path.Combine(target, Path.GetFileName(entry));
            if (Directory.Exists(entry) && !Directory.Exists(to)) Directory.Move(entry, to);
            else if (File.Exists(entry) && !File.Exists(to)) File.Move(entry, to);
        }
        Directory.Delete(staging, recursive: true);
        return true;
    }

    private static async Task DownloadVerifiedAsync(IObjectStore store, string prefix, IReadOnlyDictionary<string, string> sums, string local, CancellationToken ct)
    {
        Directory.CreateDirectory(local);
        foreach (var (relative, sha) in sums)
        {
            if (relative.Contains("..", StringComparison.Ordinal) || Path.IsPathRooted(relative))
                throw new ModelBundleException($"{prefix}{SumsFile} names an unsafe path: {relative}");
            var target = Path.Combine(local, relative);
            if (File.Exists(target) && Sha256(target) == sha) continue;
            var bytes = await store.GetAsync(prefix + relative, ct) ?? throw new ModelBundleException($"{prefix}{relative} is listed in {SumsFile} but missing");
            var actual = Convert.ToHexStringLower(SHA256.HashData(bytes));
            if (actual != sha)
                throw new ModelBundleException($"{prefix}{relative}: SHA-256 {actual} does not match {SumsFile} ({sha}); the bundle was altered after it was archived");
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            await File.WriteAllBytesAsync(target, bytes, ct);
        }
    }

    /// <summary>Splits <c>s3://bucket/models/{tenant}/{revision}</c>.</summary>
    public static bool TryParseUri(string? value, out string bucket, out string tenant, out string revision)
    {
        bucket = tenant = revision = "";
        if (value is null || !Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.Scheme != "s3") return false;
        var parts = uri.AbsolutePath.Trim('/').Split('/');
        if (parts is not ["models", var t, var r]) return false;
        (bucket, tenant, revision) = (uri.Host, t, r);
        return bucket.Length > 0 && JobValidator.IsSafeSegment(tenant) && JobValidator.IsSafeSegment(revision);
    }

    private static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
