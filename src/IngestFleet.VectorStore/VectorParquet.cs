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
}
