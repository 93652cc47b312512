using System.Text.Json.Serialization;
using IngestFleet.Storage;

namespace IngestFleet.VectorStore;

/// <summary>What one compaction did.</summary>
public sealed record CompactionReport(
    [property: JsonPropertyName("shards")] int Shards,
    [property: JsonPropertyName("input_files")] int InputFiles,
    [property: JsonPropertyName("rows_read")] int RowsRead,
    [property: JsonPropertyName("items")] int Items,
    [property: JsonPropertyName("duplicate_rows_collapsed")] int DuplicatesCollapsed,
    [property: JsonPropertyName("output_files")] int OutputFiles,
    [property: JsonPropertyName("conflicting_items")] IReadOnlyList<string> ConflictingItems,
    [property: JsonPropertyName("stale_dead_letters_removed")] int StaleDeadLettersRemoved);

/// <summary>
/// Rewrites the vector part files under a prefix into large part files in which every item appears exactly once, per
/// tenant/revision/shard folder:
/// <list type="bullet">
/// <item>Rows of one item that agree (same source, revision, contract and dimension, and embeddings within
/// <see cref="Tolerance"/> per component: a redelivered or replayed batch) collapse into the earliest one.</item>
/// <item>Rows that disagree are never chosen between: every row of such an item moves to
/// <c>vectors-conflicts/…/conflicts-{hash}.parquet</c> and the item is reported.</item>
/// <item>A dead-letter record of an item that has a vector (a poison record written after its batch had finished, say)
/// is removed, so the compacted view holds exactly one outcome per item.</item>
/// </list>
/// Safe to rerun and safe against a crash midway: output keys are a hash of the item ids they hold (a rerun writes the
/// same objects), and inputs are deleted only after every output of their folder is written; a crash leaves old and
/// new files side by side, whose identical rows the next run collapses. One folder's rows are held in memory at a time
/// (a 100,000-item shard of 512-d vectors is about 200 MB).
/// </summary>
public sealed class VectorCompactor(IObjectStore store)
{
    public const double Tolerance = 1e-5;

    /// <summary>Rows per output part file.</summary>
    public int PartRows { get; init; } = 100_000;

    public async Task<CompactionReport> CompactAsync(string prefix, Action<string>? progress, CancellationToken cancellationToken)
    {
        var folders = new SortedDictionary<string, List<string>>(StringComparer.Ordinal);
        await foreach (var key in store.ListAsync(prefix, cancellationToken))
        {
            if (!VectorParquet.IsPartKey(key)) continue;
            var folder = key[..(key.LastIndexOf('/') + 1)];
            if (!folders.TryGetValue(folder, out var files)) folders[folder] = files = [];
            files.Add(key);
        }
        int inputs = 0, rowsRead = 0, items = 0, collapsed = 0, outputs = 0, stale = 0;
        var conflicts = new List<string>();
        foreach (var (folder, files) in folders)
        {
            var rows = new List<VectorRow>();
            foreach (var file in files)
                rows.AddRange(await VectorParquet.ReadAsync(store, file, cancellationToken));
            inputs += files.Count;
            rowsRead += rows.Count;
            var (kept, duplicates, conflicting) = Resolve(rows);
            collapsed += duplicates;
            var written = new HashSet<string>(StringComparer.Ordinal);
            foreach (var chunk in kept.Chunk(PartRows))
            {
                var key = $"{folder}compacted-{StorageKeys.IdsHash(chunk.Select(r => r.ItemId))}.parquet";
                await store.PutAsync(key, await VectorParquet.SerializeAsync(chunk, cancellationToken), ResultWriter.ParquetContentType, cancellationToken);
                written.Add(key);
            }
            if (conflicting.Count > 0)
            {
                var key = $"{StorageKeys.ConflictsRoot}/{folder[(StorageKeys.VectorsRoot.Length + 1)..]}conflicts-{StorageKeys.IdsHash(conflicting.Select(r => r.ItemId).Distinct())}.parquet";
                await store.PutAsync(key, await VectorParquet.SerializeAsync(conflicting, cancellationToken), ResultWriter.ParquetContentType, cancellationToken);
                conflicts.AddRange(conflicting.Select(r => $"{folder}{r.ItemId}").Distinct());
            }
            foreach (var file in files.Where(f => !written.Contains(f)))
                await store.DeleteAsync(file, cancellationToken);
            outputs += written.Count;
            items += kept.Count;
            stale += await RemoveStaleDeadLettersAsync(folder, kept.Select(r => r.ItemId).ToHashSet(StringComparer.Ordinal), cancellationToken);
            progress?.Invoke($"{folder}: {files.Count} file(s), {rows.Count} rows → {kept.Count} items in {written.Count} file(s)" +
                (duplicates > 0 ? $", {duplicates} duplicate rows collapsed" : "") + (conflicting.Count > 0 ? $", {conflicting.Select(r => r.ItemId).Distinct().Count()} conflicting item(s) set aside" : ""));
        }
        return new CompactionReport(folders.Count, inputs, rowsRead, items, collapsed, outputs, conflicts, stale);
    }

    /// <summary>One row per item (the earliest of rows that agree); items whose rows disagree, all their rows apart.</summary>
    public static (List<VectorRow> Kept, int Duplicates, List<VectorRow> Conflicting) Resolve(IEnumerable<VectorRow> rows)
    {
        var kept = new List<VectorRow>();
        var conflicting = new List<VectorRow>();
        var duplicates = 0;
        foreach (var group in rows.GroupBy(r => r.ItemId, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var ordered = group.OrderBy(r => r.WrittenAt).ToList();
            if (ordered.Skip(1).All(r => Agree(ordered[0], r)))
            {
                kept.Add(ordered[0]);
                duplicates += ordered.Count - 1;
            }
            else
            {
                conflicting.AddRange(ordered);
            }
        }
        return (kept, duplicates, conflicting);
    }

    private static bool Agree(VectorRow a, VectorRow b)
    {
        if (a.Source != b.Source || a.ModelRevision != b.ModelRevision || a.PreprocessContract != b.PreprocessContract || a.Dimension != b.Dimension
            || a.Embedding.Length != b.Embedding.Length || a.Tenant != b.Tenant || a.Shard != b.Shard)
            return false;
        for (var i = 0; i < a.Embedding.Length; i++)
            if (Math.Abs(a.Embedding[i] - b.Embedding[i]) > Tolerance) return false;
        return true;
    }

    private async Task<int> RemoveStaleDeadLettersAsync(string vectorFolder, HashSet<string> withVector, CancellationToken cancellationToken)
    {
        var deadFolder = $"{StorageKeys.DeadLetterRoot}/{vectorFolder[(StorageKeys.VectorsRoot.Length + 1)..]}";
        var removed = 0;
        var keys = new List<string>();
        await foreach (var key in store.ListAsync(deadFolder, cancellationToken))
            if (key.EndsWith(".json", StringComparison.Ordinal) && key.LastIndexOf('/') == deadFolder.Length - 1) keys.Add(key);
        foreach (var key in keys)
        {
            if (await store.GetAsync(key, cancellationToken) is not { } bytes) continue;
            if (!withVector.Contains(DeadLetterRecord.FromJson(bytes).Job.ItemId)) continue;
            await store.DeleteAsync(key, cancellationToken);
            removed++;
        }
        return removed;
    }
}
