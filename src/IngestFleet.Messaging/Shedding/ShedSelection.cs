using IngestFleet.Contracts;
using IngestFleet.Messaging.Limits;

namespace IngestFleet.Messaging.Shedding;

/// <summary>Which jobs of a shedding window are parked: the highest shard rank first, then the shard holding the most
/// jobs in the window, then queue order; at most <c>toShed</c>. Messages that are not readable jobs (null) are never
/// chosen: they stay for the worker, which dead-letters them with a reason.</summary>
public static class ShedSelection
{
    public static HashSet<int> Choose(IReadOnlyList<EmbedCatalogImage?> window, long toShed, LimitsOptions options)
    {
        var perShard = window.Where(j => j is not null).GroupBy(j => j!.Shard).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        return window.Select((job, i) => (job, i)).Where(x => x.job is not null)
            .OrderByDescending(x => PublishedLimits.ShardRank(options, x.job!.Shard))
            .ThenByDescending(x => perShard[x.job!.Shard])
            .ThenBy(x => x.i)
            .Take((int)Math.Clamp(toShed, 0, int.MaxValue))
            .Select(x => x.i).ToHashSet();
    }
}
