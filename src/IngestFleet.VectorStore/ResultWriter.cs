using IngestFleet.Contracts;

using IngestFleet.Storage;

namespace IngestFleet.VectorStore;

/// <summary>
/// Writes each item's single outcome: a vector file or a dead-letter record. Idempotent: an item whose vector already
/// exists is not rewritten (its first write, written_at included, stays as it was), so redeliveries and replays leave
/// identical objects; a success removes an older dead letter of the same item so the ledger stays one-to-one.
/// </summary>
public sealed class ResultWriter(IObjectStore store, TimeProvider time)
{
    public Task<bool> HasVectorAsync(EmbedCatalogImage job, string revision, CancellationToken cancellationToken) =>
        store.ExistsAsync(StorageKeys.Vector(job, revision), cancellationToken);

    /// <returns>true when written, false when the vector was already there.</returns>
    public async Task<bool> WriteVectorAsync(EmbedCatalogImage job, string revision, float[] embedding, string contractHash, CancellationToken cancellationToken)
    {
        var key = StorageKeys.Vector(job, revision);
        var deadLetter = StorageKeys.DeadLetter(job, revision);
        if (await store.ExistsAsync(key, cancellationToken))
        {
            await RemoveIfPresent(deadLetter, cancellationToken);
            return false;
        }
        var row = new VectorRow
        {
            ItemId = job.ItemId, Tenant = job.Tenant, Shard = job.Shard, Source = job.Image, ModelRevision = revision,
            Dimension = embedding.Length, Embedding = embedding, PreprocessContract = contractHash, WrittenAt = time.GetUtcNow().UtcDateTime,
        };
        await store.PutAsync(key, await VectorParquet.SerializeAsync([row], cancellationToken), "application/vnd.apache.parquet", cancellationToken);
        await RemoveIfPresent(deadLetter, cancellationToken);
        return true;
    }

    public async Task WriteDeadLetterAsync(EmbedCatalogImage job, string revision, string reason, string detail, CancellationToken cancellationToken)
    {
        var key = StorageKeys.DeadLetter(job, revision);
        var now = time.GetUtcNow();
        var previous = await store.GetAsync(key, cancellationToken) is { } bytes ? DeadLetterRecord.FromJson(bytes) : null;
        var record = new DeadLetterRecord
        {
            Job = job, Reason = reason, Detail = detail, Attempts = (previous?.Attempts ?? 0) + 1, WorkerHost = Environment.MachineName,
            ModelRevision = revision, FirstFailedAt = previous?.FirstFailedAt ?? now, LastFailedAt = now, ReplayedAt = null,
            ReplayCount = previous?.ReplayCount ?? 0,
        };
        await store.PutAsync(key, record.ToJson(), "application/json", cancellationToken);
    }

    private async Task RemoveIfPresent(string key, CancellationToken cancellationToken)
    {
        if (await store.ExistsAsync(key, cancellationToken))
            await store.DeleteAsync(key, cancellationToken);
    }
}
