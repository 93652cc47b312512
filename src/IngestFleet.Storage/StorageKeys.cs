using IngestFleet.Contracts;

namespace IngestFleet.Storage;

/// <summary>
/// The documented key layout. Every key is a pure function of the job (tenant, model revision, shard, item id), so a
/// redelivered or replayed item lands on the same key instead of a second copy.
/// <code>
/// vectors/{tenant}/{model-revision}/{shard}/part-{hash}.parquet       one per batch and shard (hash of the batch's item ids)
/// vectors/{tenant}/{model-revision}/{shard}/compacted-{hash}.parquet  written by `vectors compact` (hash of its item ids)
/// vectors-conflicts/{tenant}/{model-revision}/{shard}/conflicts-{hash}.parquet  rows compaction would not choose between
/// dead-letter/{tenant}/{model-revision}/{shard}/{item}.json
/// shed/{tenant}/{model-revision}/{shard}/{item}.json        (jobs parked by the shedder; same record format)
/// </code>
/// {item} is the item id with every character outside [A-Za-z0-9._~-] percent-encoded. When that is longer than
/// <see cref="MaxItemSegmentBytes"/> (long or multi-byte ids: 110 CJK characters escape to 990 bytes), {item} is a
/// stable hashed form instead: the escaped id cut at <see cref="HashedPrefixBytes"/> bytes (never inside an escape),
/// <c>%7E</c> (which no escaped id contains, since <c>~</c> is left as it is, so no short id can collide with it), and the first 32 hex digits of the SHA-256 of the id's UTF-8 bytes. The full id is always inside the object
/// (the vector row's item_id, the dead-letter record's job). With tenant, revision and shard at most 128 ASCII bytes
/// each (the job schema), every key stays under 560 bytes (S3 allows 1,024) and every file name of the local store
/// under 160 bytes (file systems allow 255).
/// </summary>
public static class StorageKeys
{
    public const string VectorsRoot = "vectors";
    public const string DeadLetterRoot = "dead-letter";
    public const string ShedRoot = "shed";

    public const string ConflictsRoot = "vectors-conflicts";

    /// <summary>The folder of one tenant's, revision's and shard's vector part files.</summary>
    public static string VectorShard(string tenant, string revision, string shard) => $"{VectorsRoot}/{tenant}/{revision}/{shard}/";

    /// <summary>
    /// The part file one batch writes for one shard: a pure function of the item ids the batch holds for that shard,
    /// so a redelivered batch of the same jobs writes the same key (and can find what it already wrote).
    /// </summary>
    public static string VectorPart(string tenant, string revision, string shard, IEnumerable<string> itemIds) =>
        $"{VectorShard(tenant, revision, shard)}part-{IdsHash(itemIds)}.parquet";

    /// <summary>A stable 24-hex hash of a set of item ids (order does not matter).</summary>
    public static string IdsHash(IEnumerable<string> itemIds)
    {
        using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        foreach (var id in itemIds.Order(StringComparer.Ordinal))
        {
            sha.AppendData(System.Text.Encoding.UTF8.GetBytes(id));
            sha.AppendData([0]);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset())[..24];
    }

    public static string DeadLetter(string tenant, string revision, string shard, string itemId) =>
        $"{DeadLetterRoot}/{tenant}/{revision}/{shard}/{EscapeItem(itemId)}.json";

    public static string Shed(string tenant, string revision, string shard, string itemId) =>
        $"{ShedRoot}/{tenant}/{revision}/{shard}/{EscapeItem(itemId)}.json";

    public static string DeadLetter(EmbedCatalogImage job, string revision) => DeadLetter(job.Tenant, revision, job.Shard, job.ItemId);

    /// <summary>The longest escaped item id used as it is (ASCII, so characters are bytes).</summary>
    public const int MaxItemSegmentBytes = 150;

    /// <summary>How much of a long escaped id a hashed segment keeps, for people reading listings.</summary>
    public const int HashedPrefixBytes = 100;

    /// <summary>The longest any key can be: root, three 128-byte segments, the item segment and the extension.</summary>
    public const int MaxKeyBytes = 12 + 3 * (128 + 1) + MaxItemSegmentBytes + 8;

    public static string EscapeItem(string itemId)
    {
        var escaped = Uri.EscapeDataString(itemId);
        if (escaped is "." or "..") return escaped.Replace(".", "%2E", StringComparison.Ordinal);
        if (escaped.Length <= MaxItemSegmentBytes) return escaped;
        var cut = HashedPrefixBytes;
        // Do not split a %XX escape.
        if (escaped[cut - 1] == '%') cut -= 1;
        else if (escaped[cut - 2] == '%') cut -= 2;
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(itemId)))[..32];
        return $"{escaped[..cut]}%7E{hash}";
    }
}
