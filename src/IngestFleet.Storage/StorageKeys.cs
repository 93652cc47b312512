using IngestFleet.Contracts;

namespace IngestFleet.Storage;

/// <summary>
/// The documented key layout. Every key is a pure function of the job (tenant, model revision, shard, item id), so a
/// redelivered or replayed item lands on the same key instead of a second copy.
/// <code>
/// vectors/{tenant}/{model-revision}/{shard}/{item}.parquet
/// dead-letter/{tenant}/{model-revision}/{shard}/{item}.json
/// shed/{tenant}/{model-revision}/{shard}/{item}.json        (jobs parked by the shedder; same record format)
/// </code>
/// {item} is the item id with every character outside [A-Za-z0-9._~-] percent-encoded.
/// </summary>
public static class StorageKeys
{
    public const string VectorsRoot = "vectors";
    public const string DeadLetterRoot = "dead-letter";
    public const string ShedRoot = "shed";

    public static string Vector(string tenant, string revision, string shard, string itemId) =>
        $"{VectorsRoot}/{tenant}/{revision}/{shard}/{EscapeItem(itemId)}.parquet";

    public static string DeadLetter(string tenant, string revision, string shard, string itemId) =>
        $"{DeadLetterRoot}/{tenant}/{revision}/{shard}/{EscapeItem(itemId)}.json";

    public static string Shed(string tenant, string revision, string shard, string itemId) =>
        $"{ShedRoot}/{tenant}/{revision}/{shard}/{EscapeItem(itemId)}.json";

    public static string Vector(EmbedCatalogImage job, string revision) => Vector(job.Tenant, revision, job.Shard, job.ItemId);
    public static string DeadLetter(EmbedCatalogImage job, string revision) => DeadLetter(job.Tenant, revision, job.Shard, job.ItemId);

    public static string EscapeItem(string itemId)
    {
        var escaped = Uri.EscapeDataString(itemId);
        return escaped is "." or ".." ? escaped.Replace(".", "%2E", StringComparison.Ordinal) : escaped;
    }
}
