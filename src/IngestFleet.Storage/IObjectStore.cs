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
}
