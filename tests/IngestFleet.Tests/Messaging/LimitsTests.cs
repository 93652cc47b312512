using IngestFleet.Messaging;
using IngestFleet.Messaging.Limits;

namespace IngestFleet.Tests.Messaging;

public sealed class LimitsTests
{
    private static readonly FleetOptions Fleet = new();

    [Fact]
    public void Defaults_AreValid_AndShedBulkBeforeNormal_AndNeverOnlineOrHigh()
    {
        var limits = PublishedLimits.Resolve(Fleet, new LimitsOptions());
        Assert.Empty(PublishedLimits.Validate(Fleet, new LimitsOptions()));
        Assert.Equal(["online", "high", "normal", "bulk"], limits.Select(l => l.Priority));
        Assert.Equal([0, 0, 1, 2], limits.Select(l => l.ShedRank));
        Assert.All(limits, l => Assert.Equal(l.MaxDepth * 4 / 5, l.ResumeDepth));
    }

    [Fact]
    public void ConfiguredValues_OverrideDefaults_PerField()
    {
        var options = new LimitsOptions { Queues = { ["bulk"] = new QueueLimitSettings { MaxDepth = 50, WaitSloSeconds = 9 } } };
        var bulk = PublishedLimits.Resolve(Fleet, options).Single(l => l.Priority == "bulk");
        Assert.Equal((50L, 40L, 9.0, 2), (bulk.MaxDepth, bulk.ResumeDepth, bulk.WaitSloSeconds, bulk.ShedRank));
    }

    [Fact]
    public void OnlineRankedToBeShedBeforeBulk_IsRefused_NamingBothClasses()
    {
        var options = new LimitsOptions { Queues = { ["online"] = new QueueLimitSettings { ShedRank = 3 } } };
        var errors = PublishedLimits.Validate(Fleet, options);
        Assert.Contains(errors, e => e.Contains("IngestFleet:Limits:Queues:online:ShedRank 3", StringComparison.Ordinal) && e.Contains("bulk", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("bulk", 10, 10, null, "ResumeDepth 10 must be at least 0 and below MaxDepth 10")]
    [InlineData("bulk", 0, null, null, "MaxDepth is 0")]
    [InlineData("normal", 2_000_000, null, null, "above the broker backstop")]
    [InlineData("online", null, null, 0.0, "WaitSloSeconds 0 must be above 0")]
    [InlineData("urgent", 5, null, null, "no such priority class")]
    public void InconsistentLimits_AreReported_ByKey(string priority, int? max, int? resume, double? slo, string expected)
    {
        var options = new LimitsOptions { Queues = { [priority] = new QueueLimitSettings { MaxDepth = max, ResumeDepth = resume, WaitSloSeconds = slo } } };
        Assert.Contains(PublishedLimits.Validate(Fleet, options), e => e.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void ShardRank_ExactBeatsPrefix_LongestPrefixWins_UnlistedIsZero()
    {
        var options = new LimitsOptions { ShardRanks = { ["backfill-*"] = 2, ["backfill-2019*"] = 5, ["backfill-x"] = 1 } };
        Assert.Equal(5, PublishedLimits.ShardRank(options, "backfill-2019-q1"));
        Assert.Equal(2, PublishedLimits.ShardRank(options, "backfill-2020"));
        Assert.Equal(1, PublishedLimits.ShardRank(options, "backfill-x"));
        Assert.Equal(0, PublishedLimits.ShardRank(options, "catalog"));
        Assert.Contains(PublishedLimits.Validate(Fleet, new LimitsOptions { ShardRanks = { ["a*b"] = 1 } }), e => e.Contains("trailing *", StringComparison.Ordinal));
    }

}

public sealed class WaitEstimateTests
{
    [Theory]
    [InlineData(0, 16, 0.0, true, 30.0, 0.0)]      // nothing waiting (16 in flight): no wait, however long the stream has run
    [InlineData(100, 116, 20.0, true, 30.0, 5.8)]  // acks flowing: depth ÷ ack rate
    [InlineData(50, 50, 0.0, true, 12.0, 12.0)]    // stalled: messages wait and nothing is acked
    [InlineData(50, 66, 0.0, false, 99.0, -1.0)]   // no management API: unknown, never trips the wait SLO
    public void EstimateWait_FollowsTheDocumentedCases(long ready, long depth, double rate, bool known, double ageSeconds, double expected)
    {
        Assert.Equal(expected, QueueMonitor.EstimateWait(ready, depth, rate, known, TimeSpan.FromSeconds(ageSeconds)), 6);
    }
}
