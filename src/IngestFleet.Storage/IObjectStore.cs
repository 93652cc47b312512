namespace IngestFleet.Storage;

/// <summary>
/// The object store the fleet writes to: S3 (or an S3-compatible server) in the fleet, a local directory in the
/// embedded mode. Both use the same keys and formats, so tools read either.
/// </summary>
public interface IObjectStore
{
    /// <summary>Human-readable location, for summaries ("s3://bucket" or a directory).</summary>
    string Location { get; }
    Task PutAsync(string key, ReadOnlyMemory<byte> content, string contentType, CancellationToken cancellationToken);
    /// <summary>The object's bytes, or null when there is no such key.</summary>
    Task<byte[]?> GetAsync(string key, CancellationToken cancellationToken);
    Task<bool> ExistsAsync(string key, CancellationToken cancellationToken);
    IAsyncEnumerable<string> ListAsync(string prefix, CancellationToken cancellationToken);
    Task DeleteAsync(string key, CancellationToken cancellationToken);
    /// <summary>Throws when the store is unreachable or the bucket/directory is missing (health checks).</summary>
    Task ProbeAsync(CancellationToken cancellationToken);

    /// <summary>The object's bytes and a token for this version of it (S3: its ETag), or null when there is no such key.
    /// By default the token is a hash of the bytes.</summary>
    async Task<VersionedObject?> GetVersionedAsync(string key, CancellationToken cancellationToken) =>
        await GetAsync(key, cancellationToken) is { } bytes ? new VersionedObject(bytes, VersionedObject.HashOf(bytes)) : null;

    /// <summary>Writes the object only if it is still the version <paramref name="version"/> (from
    /// <see cref="GetVersionedAsync"/>); false when it changed or is gone, and then nothing was written. S3 makes the
    /// check and the write one step (a conditional PUT, <c>If-Match</c>); the default reads, compares and writes, which
    /// is only as safe as the store's single writer.</summary>
    async Task<bool> PutIfUnchangedAsync(string key, ReadOnlyMemory<byte> content, string contentType, string version, CancellationToken cancellationToken)
    {
        if (await GetVersionedAsync(key, cancellationToken) is not { } current || current.Version != version) return false;
        await PutAsync(key, content, contentType, cancellationToken);
        return true;
    }

    /// <summary>Writes the object only if there is none under the key; false when there is, and then nothing was
    /// written. S3 makes it one request (a conditional PUT, <c>If-None-Match: *</c>), so a writer that almost always
    /// creates (a batch's new part) saves the read it would otherwise make first; the default looks, then writes.</summary>
    Task<bool> PutIfAbsentAsync(string key, ReadOnlyMemory<byte> content, string contentType, CancellationToken cancellationToken) =>
        ObjectStoreFallbacks.LookThenPutAsync(this, key, content, contentType, cancellationToken);
}

public static class ObjectStoreFallbacks
{
    /// <summary>Create-only by looking first: not atomic (a writer between the look and the PUT is overwritten); the
    /// default for stores without a conditional create, and S3's fallback where a server does not implement one.</summary>
    public static async Task<bool> LookThenPutAsync(IObjectStore store, string key, ReadOnlyMemory<byte> content, string contentType, CancellationToken cancellationToken)
    {
        if (await store.ExistsAsync(key, cancellationToken)) return false;
        await store.PutAsync(key, content, contentType, cancellationToken);
        return true;
    }
}

/// <summary>An object as read, with a token that names this version of it.</summary>
public sealed record VersionedObject(byte[] Content, string Version)
{
    public static string HashOf(ReadOnlySpan<byte> bytes) => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(bytes));
}
