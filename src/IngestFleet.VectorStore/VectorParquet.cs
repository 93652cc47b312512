using IngestFleet.Storage;
using Parquet.Serialization;


namespace IngestFleet.VectorStore;

/// <summary>Vectors as Parquet (embedding as a list of float32).</summary>
public static class VectorParquet
{
    public static async Task<byte[]> SerializeAsync(IReadOnlyCollection<VectorRow> rows, CancellationToken cancellationToken = default)
    {
        using var ms = new MemoryStream();
        await ParquetSerializer.SerializeAsync(rows, ms, cancellationToken: cancellationToken);
        return ms.ToArray();
    }

    public static async Task<IList<VectorRow>> DeserializeAsync(byte[] bytes, CancellationToken cancellationToken = default)
    {
        using var ms = new MemoryStream(bytes, writable: false);
        return (await ParquetSerializer.DeserializeAsync<VectorRow>(ms, cancellationToken: cancellationToken)).Data;
    }

    /// <summary>Whether a key is a vector part file (a batch's part or a compacted one).</summary>
    public static bool IsPartKey(string key) =>
        key.StartsWith(StorageKeys.VectorsRoot + "/", StringComparison.Ordinal) && key.EndsWith(".parquet", StringComparison.Ordinal);

    /// <summary>The rows of one part file in the store; none when the key does not exist.</summary>
    public static async Task<IList<VectorRow>> ReadAsync(IObjectStore store, string key, CancellationToken cancellationToken = default) =>
        await store.GetAsync(key, cancellationToken) is { } bytes ? await DeserializeAsync(bytes, cancellationToken) : [];
}
