using IngestFleet.Contracts;
using IngestFleet.Storage;
using IngestFleet.VectorStore;

namespace IngestFleet.IntegrationTests;

/// <summary>The items that have a vector, read from the part files as an index builder would (one per item after
/// resolving redelivered rows), keyed tenant/revision/shard/item.</summary>
internal static class VectorView
{
    public static string Id(string tenant, string revision, string shard, string itemId) => $"{tenant}/{revision}/{shard}/{itemId}";
    public static string Id(EmbedCatalogImage job, string revision) => Id(job.Tenant, revision, job.Shard, job.ItemId);

    public static async Task<HashSet<string>> ItemsAsync(IObjectStore store, string prefix = "vectors/")
    {
        var (rows, conflicts) = await VectorExporter.ReadAsync(store, prefix, CancellationToken.None);
        Assert.Empty(conflicts);
        return rows.Select(r => Id(r.Tenant, r.ModelRevision, r.Shard, r.ItemId)).ToHashSet(StringComparer.Ordinal);
    }

    public static async Task<List<VectorRow>> RowsAsync(IObjectStore store, string prefix = "vectors/") =>
        (await VectorExporter.ReadAsync(store, prefix, CancellationToken.None)).Rows;
}
