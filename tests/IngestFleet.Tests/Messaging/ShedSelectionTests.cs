using IngestFleet.Contracts;
using IngestFleet.Messaging.Limits;
using IngestFleet.Messaging.Shedding;

namespace IngestFleet.Tests.Messaging;

public sealed class ShedSelectionTests
{
    private static EmbedCatalogImage Job(string shard, int i) => new() { Tenant = "t", Shard = shard, ItemId = $"{shard}-{i}", Image = "s3://b/k", Priority = "bulk" };

    [Fact]
    public void HighestShardRankFirst_ThenTheLargestShard_ThenQueueOrder()
    {
        var options = new LimitsOptions();
        options.ShardRanks["backfill-*"] = 5;
        var window = new List<EmbedCatalogImage?>
        {
            Job("live", 0), Job("backfill-2024", 0), Job("big", 0), Job("big", 1), Job("live", 1), Job("backfill-2024", 1), Job("big", 2),
        };
        var chosen = ShedSelection.Choose(window, 3, options);
        // Both backfill jobs (rank 5), then the first job of the largest unranked shard ("big", 3 jobs).
        Assert.Equal([1, 2, 5], chosen.Order());
    }

    [Fact]
    public void UnreadableMessages_AreNeverChosen_AndNoMoreThanAskedIsTaken()
    {
        var window = new List<EmbedCatalogImage?> { null, Job("a", 0), null, Job("a", 1) };
        Assert.Equal([1, 3], ShedSelection.Choose(window, 10, new LimitsOptions()).Order());
        Assert.Single(ShedSelection.Choose(window, 1, new LimitsOptions()));
        Assert.Empty(ShedSelection.Choose(window, 0, new LimitsOptions()));
    }
}
