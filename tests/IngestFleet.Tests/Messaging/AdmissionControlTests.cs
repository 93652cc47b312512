using IngestFleet.Messaging;
using IngestFleet.Messaging.Limits;
using Microsoft.Extensions.Time.Testing;

namespace IngestFleet.Tests.Messaging;

/// <summary>Admission arithmetic against the published limits, through a fake depth source and a fake clock.</summary>
public sealed class AdmissionControlTests
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-11-30T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
    private readonly FakeDepthSource _depths;
    private readonly AdmissionControl _admission;

    public AdmissionControlTests()
    {
        _depths = new FakeDepthSource(_time);
        var limits = new LimitsOptions();
        limits.Queues["bulk"] = new QueueLimitSettings { MaxDepth = 100, ResumeDepth = 50, WaitSloSeconds = 60 };
        _admission = new AdmissionControl(_depths, PublishedLimits.Resolve(new FleetOptions(), limits));
        foreach (var p in new FleetOptions().Priorities) _depths.Set(p, 0);
    }

    private static Dictionary<string, int> Bulk(int n) => new(StringComparer.Ordinal) { ["bulk"] = n };

    [Fact]
    public async Task UpToMaxDepth_IsAccepted_OneMoreIsOverTheLimit()
    {
        _depths.Set("bulk", ready: 60, unacked: 30);
        Assert.Equal(AdmissionVerdict.Accept, (await _admission.TryAdmitAsync(Bulk(10), CancellationToken.None)).Verdict);
        var refused = await _admission.TryAdmitAsync(Bulk(1), CancellationToken.None);
        Assert.Equal(AdmissionVerdict.OverLimit, refused.Verdict);
        Assert.Contains("max depth 100", refused.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task JobsAdmittedBetweenSamples_CountTowardTheDepth_UntilANewSampleArrives()
    {
        _depths.Set("bulk", ready: 90);
        Assert.Equal(AdmissionVerdict.Accept, (await _admission.TryAdmitAsync(Bulk(6), CancellationToken.None)).Verdict);
        Assert.Equal(AdmissionVerdict.Accept, (await _admission.TryAdmitAsync(Bulk(4), CancellationToken.None)).Verdict);
        Assert.Equal(AdmissionVerdict.OverLimit, (await _admission.TryAdmitAsync(Bulk(1), CancellationToken.None)).Verdict); // 90 + 10 sampled-or-admitted
        // A new sample (the clock moved) shows the queue drained: the admitted count starts again from it.
        _time.Advance(TimeSpan.FromSeconds(2));
        _depths.Set("bulk", ready: 20);
        Assert.Equal(AdmissionVerdict.Accept, (await _admission.TryAdmitAsync(Bulk(80), CancellationToken.None)).Verdict);
    }

    [Fact]
    public async Task Release_GivesBackWhatWasNotPublished()
    {
        _depths.Set("bulk", ready: 95);
        Assert.Equal(AdmissionVerdict.Accept, (await _admission.TryAdmitAsync(Bulk(5), CancellationToken.None)).Verdict);
        _admission.Release("bulk", 5);
        Assert.Equal(AdmissionVerdict.Accept, (await _admission.TryAdmitAsync(Bulk(5), CancellationToken.None)).Verdict);
    }

    [Theory]
    [InlineData(10.0, 1)]   // 11 over the limit at 10 acks/s: 1.1 s, rounded up to whole seconds (2), clamped ≥ 1
    [InlineData(0.0, 60)]   // no acks: the queue's wait SLO
    public async Task RetryAfter_ComesFromTheAckRate_OrTheWaitSlo(double ackRate, int atLeastSeconds)
    {
        _depths.Set("bulk", ready: 100, ackRate: ackRate);
        var refused = await _admission.TryAdmitAsync(Bulk(11), CancellationToken.None);
        Assert.Equal(AdmissionVerdict.OverLimit, refused.Verdict);
        Assert.InRange(refused.RetryAfter.TotalSeconds, atLeastSeconds, 300);
        if (ackRate > 0) Assert.Equal(2, refused.RetryAfter.TotalSeconds);
    }

    [Fact]
    public async Task PastTheWaitSlo_IsOverTheLimit_EvenBelowMaxDepth()
    {
        _depths.Set("bulk", ready: 10, ackRate: 0.1, estimatedWait: 90);
        var refused = await _admission.TryAdmitAsync(Bulk(1), CancellationToken.None);
        Assert.Equal(AdmissionVerdict.OverLimit, refused.Verdict);
        Assert.Contains("SLO", refused.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownWait_NeverRefuses()
    {
        _depths.Set("bulk", ready: 10, estimatedWait: -1);
        Assert.Equal(AdmissionVerdict.Accept, (await _admission.TryAdmitAsync(Bulk(1), CancellationToken.None)).Verdict);
    }

    [Fact]
    public async Task BrokerUnreachable_IsBrokerDown_WithARetryAfter()
    {
        _depths.BrokerError = "cannot reach RabbitMQ";
        var d = await _admission.TryAdmitAsync(Bulk(1), CancellationToken.None);
        Assert.Equal(AdmissionVerdict.BrokerDown, d.Verdict);
        Assert.True(d.RetryAfter > TimeSpan.Zero);
    }
}

/// <summary>Each tenant's share of a queue (issue 21, point 5): one tenant past its share is refused, the others are
/// still admitted; a tenant's count drains at the queue's ack rate and never exceeds the queue's sampled depth.</summary>
public sealed class TenantShareTests
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-12-06T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
    private readonly FakeDepthSource _depths;
    private readonly AdmissionControl _admission;

    public TenantShareTests()
    {
        _depths = new FakeDepthSource(_time);
        var limits = new LimitsOptions { TenantShare = 0.5 };
        limits.Queues["bulk"] = new QueueLimitSettings { MaxDepth = 100, ResumeDepth = 50, WaitSloSeconds = 600 };
        limits.TenantShares["big"] = 0.8;
        _admission = new AdmissionControl(_depths, PublishedLimits.Resolve(new FleetOptions(), limits), limits);
        foreach (var p in new FleetOptions().Priorities) _depths.Set(p, 0);
    }

    private Task<AdmissionDecision> Admit(string tenant, int n) => _admission.TryAdmitAsync(
        new Dictionary<string, int>(StringComparer.Ordinal) { ["bulk"] = n }, CancellationToken.None, new Dictionary<(string, string), int> { [(tenant, "bulk")] = n });

    [Fact]
    public async Task ATenantPastItsShare_IsRefused_WhileAnotherIsAdmitted()
    {
        Assert.Equal(AdmissionVerdict.Accept, (await Admit("acme", 50)).Verdict);
        var refused = await Admit("acme", 1);
        Assert.Equal(AdmissionVerdict.OverTenantShare, refused.Verdict);
        Assert.Contains("share 0.5 of the max depth 100", refused.Detail, StringComparison.Ordinal);
        Assert.Equal(AdmissionVerdict.Accept, (await Admit("beta", 40)).Verdict);
        Assert.Equal(AdmissionVerdict.OverLimit, (await Admit("gamma", 11)).Verdict); // the queue's own limit still holds: 90 + 11
    }

    [Fact]
    public async Task ATenantsCount_DrainsAtTheAckRate_AndIsCappedByTheQueuesDepth()
    {
        Assert.Equal(AdmissionVerdict.Accept, (await Admit("acme", 50)).Verdict);
        _time.Advance(TimeSpan.FromSeconds(2));
        _depths.Set("bulk", ready: 30, unacked: 10, ackRate: 10); // 2 s at 10 acks/s: 20 of acme's jobs are done
        Assert.Equal(AdmissionVerdict.Accept, (await Admit("acme", 10)).Verdict);
        Assert.Equal(AdmissionVerdict.OverTenantShare, (await Admit("acme", 11)).Verdict); // 30 left + 10 admitted + 11 > 50
        _time.Advance(TimeSpan.FromSeconds(1));
        _depths.Set("bulk", ready: 0, unacked: 0, ackRate: 0); // the queue drained: nobody's jobs are left in it
        Assert.Equal(AdmissionVerdict.Accept, (await Admit("acme", 50)).Verdict);
    }

    [Fact]
    public async Task TwoTenants_DrainByTheirPartOfTheQueue_NotByItsWholeAckRate()
    {
        Assert.Equal(AdmissionVerdict.Accept, (await Admit("acme", 40)).Verdict); // the queue: acme's 40
        Assert.Equal(AdmissionVerdict.Accept, (await Admit("beta", 40)).Verdict); // then beta's 40 behind them
        _time.Advance(TimeSpan.FromSeconds(4));
        _depths.Set("bulk", ready: 40, ackRate: 10); // 40 acked in 4 s: acme's, which were first
        // beta's 40 are half of the 80 the queue held at its admission: half of the 40 acks were its, 20 remain.
        Assert.Equal(AdmissionVerdict.OverTenantShare, (await Admit("beta", 31)).Verdict);
        Assert.Equal(AdmissionVerdict.Accept, (await Admit("beta", 30)).Verdict);
        Assert.Equal(AdmissionVerdict.Accept, (await Admit("acme", 30)).Verdict); // acme has none left: 30 of its 50
    }

    [Fact]
    public async Task ARequestIsCountedOnce_WhenTheQueueDrainsBetweenSamples()
    {
        Assert.Equal(AdmissionVerdict.Accept, (await Admit("acme", 40)).Verdict);
        _time.Advance(TimeSpan.FromSeconds(1));
        _depths.Set("bulk", ready: 0); // everything acked: acme has nothing queued
        Assert.Equal(AdmissionVerdict.Accept, (await Admit("acme", 10)).Verdict); // acme now has 10
        Assert.Equal(AdmissionVerdict.Accept, (await Admit("beta", 40)).Verdict);
        Assert.Equal(AdmissionVerdict.Accept, (await Admit("acme", 40)).Verdict); // 10 + 40 = its share of 50 exactly
        Assert.Equal(AdmissionVerdict.OverTenantShare, (await Admit("acme", 1)).Verdict);
    }

    [Fact]
    public void TheCap_IsTheTenantsShareOfTheMaxDepth_OrNoneAtShareOne()
    {
        Assert.Equal(50, _admission.TenantCap("acme", "bulk"));
        Assert.Equal(80, _admission.TenantCap("big", "bulk"));
        var limits = new LimitsOptions { TenantShare = 1 };
        Assert.Null(new AdmissionControl(_depths, PublishedLimits.Resolve(new FleetOptions(), limits), limits).TenantCap("acme", "bulk"));
    }

    [Fact]
    public async Task APerTenantShare_ReplacesTheDefault()
    {
        Assert.Equal(AdmissionVerdict.Accept, (await Admit("big", 80)).Verdict);
        Assert.Equal(AdmissionVerdict.OverTenantShare, (await Admit("big", 1)).Verdict);
    }
}
