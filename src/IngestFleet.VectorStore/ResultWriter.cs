using IngestFleet.Contracts;
using IngestFleet.Storage;

namespace IngestFleet.VectorStore;

/// <summary>One vector to write: the job it answers, the model revision it was made with, the unit vector.</summary>
public readonly record struct VectorItem(EmbedCatalogImage Job, string Revision, float[] Embedding);

/// <summary>
/// Writes each item's single outcome. Vectors go out as one Parquet part per batch and shard
/// (<see cref="StorageKeys.VectorPart"/>), so steady state is one PUT per batch, not per item; the key is a pure
/// function of the batch's item ids for that shard, so a redelivered batch rewrites the same object. Items that may
/// have failed before (a replay, a redelivery) have their older dead letter removed, so an item never has both.
/// Dead letters stay one JSON record per item (operators read and replay them one by one).
/// </summary>
public sealed class ResultWriter(IObjectStore store, TimeProvider time)
{
    public const string ParquetContentType = "application/vnd.apache.parquet";

    /// <summary>The items a part already holds (a redelivered batch finds what its first delivery wrote).</summary>
    public async Task<HashSet<string>> ItemsInPartAsync(string key, CancellationToken cancellationToken) =>
        (await VectorParquet.ReadAsync(store, key, cancellationToken)).Select(r => r.ItemId).ToHashSet(StringComparer.Ordinal);

    /// <summary>
    /// Writes one part file. Almost every part is new (its key hashes the batch's item ids), so it is created in one
    /// conditional request, without reading first. When the key already exists (the same batch delivered or published
    /// again), rows it holds are kept as they are (identical object, first <c>written_at</c>) and only items it lacks
    /// are added to it.
    /// </summary>
    /// <returns>Rows written now, and rows that were already there.</returns>
    /// <param name="key">The part's key (<see cref="StorageKeys.VectorPart"/> over the batch's item ids for the shard).</param>
    /// <param name="items">The shard's vectors from this batch.</param>
    /// <param name="contractHash">The preprocessing contract (and decode path) that made them.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    public async Task<(int Written, int Present)> WritePartAsync(string key, IReadOnlyList<VectorItem> items, string contractHash, CancellationToken cancellationToken)
    {
        if (items.Count == 0) return (0, 0);
        var now = time.GetUtcNow().UtcDateTime;
        VectorRow RowOf(VectorItem i) => new()
        {
            ItemId = i.Job.ItemId, Tenant = i.Job.Tenant, Shard = i.Job.Shard, Source = i.Job.Image, ModelRevision = i.Revision,
            Dimension = i.Embedding.Length, Embedding = i.Embedding, PreprocessContract = contractHash, WrittenAt = now,
        };
        var fresh = items.Select(RowOf).OrderBy(r => r.ItemId, StringComparer.Ordinal).ToList();
        if (await store.PutIfAbsentAsync(key, await VectorParquet.SerializeAsync(fresh, cancellationToken), ParquetContentType, cancellationToken))
            return (items.Count, 0);
        var existing = await VectorParquet.ReadAsync(store, key, cancellationToken);
        var have = existing.Select(r => r.ItemId).ToHashSet(StringComparer.Ordinal);
        var added = items.Where(i => !have.Contains(i.Job.ItemId)).Select(RowOf).ToList();
        if (added.Count == 0) return (0, items.Count);
        var rows = existing.Concat(added).OrderBy(r => r.ItemId, StringComparer.Ordinal).ToList();
        await store.PutAsync(key, await VectorParquet.SerializeAsync(rows, cancellationToken), ParquetContentType, cancellationToken);
        return (added.Count, items.Count - added.Count);
    }

    /// <summary>Removes the item's dead letter if it has one (after its vector was written).</summary>
    public async Task RemoveDeadLetterAsync(EmbedCatalogImage job, string revision, CancellationToken cancellationToken)
    {
        var key = StorageKeys.DeadLetter(job, revision);
        if (await store.ExistsAsync(key, cancellationToken))
            await store.DeleteAsync(key, cancellationToken);
    }

    /// <param name="keyTenant">Records the job under this tenant's dead letters instead of its own (a job whose
    /// publisher may not act for its tenant).</param>
    public async Task WriteDeadLetterAsync(EmbedCatalogImage job, string revision, string reason, string detail, CancellationToken cancellationToken,
        string? keyTenant = null)
    {
        var key = StorageKeys.DeadLetter(keyTenant is null ? job : job with { Tenant = keyTenant }, revision);
        var now = time.GetUtcNow();
        var previous = await store.GetAsync(key, cancellationToken) is { } bytes ? DeadLetterRecord.FromJson(bytes) : null;
        var record = new DeadLetterRecord
        {
            Job = job, Reason = reason, Detail = detail, Attempts = (previous?.Attempts ?? 0) + 1, WorkerHost = Environment.MachineName,
            ModelRevision = revision, FirstFailedAt = previous?.FirstFailedAt ?? now, LastFailedAt = now, ReplayedAt = null,
            ReplayCount = previous?.ReplayCount ?? 0, Publisher = job.Publisher,
        };
        await store.PutAsync(key, record.ToJson(), "application/json", cancellationToken);
    }
}
