using IngestFleet.ServiceDefaults;
using IngestFleet.Operations.Acceptance;

namespace IngestFleet.Tests.Operations;

/// <summary>The arithmetic behind soak, accept and plan: durations, curves, the sustained-swap rule, billing, plans.</summary>
public sealed class PlanningTests
{
    [Theory]
    [InlineData("90s", 90)]
    [InlineData("15m", 900)]
    [InlineData("6h", 21600)]
    [InlineData("1h30m", 5400)]
    [InlineData("250ms", 0.25)]
    [InlineData("2d", 172800)]
    [InlineData("PT6H", 21600)]
    [InlineData("P1DT2H", 93600)]
    public void Durations_ReadTheDocumentedForms(string text, double seconds) => Assert.Equal(seconds, Durations.Parse(text).TotalSeconds, 3);

    [Theory]
    [InlineData("")]
    [InlineData("6")]
    [InlineData("6x")]
    [InlineData("h6")]
    [InlineData("PT")]
    public void Durations_RefuseAnythingElse(string text) => Assert.False(Durations.TryParse(text, out _));

    [Fact]
    public void ACurve_HoldsEachRowUntilTheNext()
    {
        var curve = SoakCurve.Parse("offset_seconds,online,bulk\n0,1,10\n30,2,0\n", "c.csv");
        Assert.Equal(["online", "bulk"], curve.Classes);
        Assert.Equal([1.0, 10.0], curve.RatesAt(0));
        Assert.Equal([1.0, 10.0], curve.RatesAt(29.9));
        Assert.Equal([2.0, 0.0], curve.RatesAt(30));
        Assert.Equal([2.0, 0.0], curve.RatesAt(3600));
    }

    [Theory]
    [InlineData("seconds,bulk\n0,1\n", "header")]
    [InlineData("offset_seconds,bulk\n5,1\n", "offset_seconds 0")]
    [InlineData("offset_seconds,bulk\n0,1\n0,2\n", "increase")]
    [InlineData("offset_seconds,bulk\n0,-1\n", "not a number")]
    [InlineData("offset_seconds,bulk\n0,1,2\n", "cells")]
    public void ABadCurve_IsRefusedNamingTheProblem(string csv, string expected) =>
        Assert.Contains(expected, Assert.Throws<FormatException>(() => SoakCurve.Parse(csv, "c.csv")).Message, StringComparison.Ordinal);

    [Fact]
    public void NamedCurves_ScaleToTheDuration()
    {
        var production = SoakCurve.Load("production", TimeSpan.FromMinutes(10));
        Assert.Equal(120, production.Rows[1].OffsetSeconds); // 20 % of 600 s
        Assert.Throws<FileNotFoundException>(() => SoakCurve.Load("no-such-curve", TimeSpan.FromMinutes(1)));
    }

    [Fact]
    public void Swap_IsSustainedOnlyWhenItStaysAboveTheThresholdLongEnough()
    {
        const long mb = 1 << 20;
        SoakSample[] blip = [new(0, 0), new(1, 100 * mb), new(2, 0), new(3, 100 * mb), new(4, 0)];
        Assert.False(SoakReportBuilder.Sustained(blip, 64 * mb, 3).Sustained);
        SoakSample[] stays = [new(0, 0), new(1, 100 * mb), new(2, 90 * mb), new(3, 80 * mb), new(4, 70 * mb), new(5, 0)];
        var verdict = SoakReportBuilder.Sustained(stays, 64 * mb, 3);
        Assert.True(verdict.Sustained);
        Assert.Equal(3, verdict.LongestSeconds);
        Assert.Equal(100 * mb, verdict.MaxBytes);
    }

    [Fact]
    public void Billing_ReadsBothFormats_AndRefusesOthers()
    {
        var dir = Directory.CreateTempSubdirectory("ingestfleet-billing-").FullName;
        var times = Path.Combine(dir, "a.csv");
        File.WriteAllText(times, "node_id,billed_start,billed_end\nmac-1,2026-11-30T00:00:00Z,2026-11-30T01:30:00Z\nmac-1,2026-11-30T02:00:00Z,2026-11-30T02:10:00Z\n");
        Assert.Equal(100, BillingRecord.Load(times).Where(b => b.NodeId == "mac-1").Sum(b => b.BilledMinutes), 6);
        var minutes = Path.Combine(dir, "b.csv");
        File.WriteAllText(minutes, "node_id,billed_minutes\nmac-2,1440\n");
        Assert.Equal(1440, Assert.Single(BillingRecord.Load(minutes)).BilledMinutes);
        var bad = Path.Combine(dir, "c.csv");
        File.WriteAllText(bad, "node,hours\nx,1\n");
        Assert.Throws<FormatException>(() => BillingRecord.Load(bad));
    }

    [Fact]
    public void ABacklog_RoundsNodesUp_AndIncludesColdStart()
    {
        // 100,000 images, 10 images/s per node, 1 h SLO, 10 min cold start: 50 min of work per node = 30,000 images.
        var plan = FleetPlanner.Plan(new PlanRequest(100_000, null, 10, TimeSpan.FromHours(1), 2.0, 0, TimeSpan.FromMinutes(10)));
        Assert.Equal(4, plan.Nodes);                                   // ⌈100,000 ÷ 30,000⌉ = ⌈3.33⌉
        Assert.Equal(600 + 2500, plan.TimeToDrain.TotalSeconds, 6);   // 10 min + 100,000 ÷ 40 s
        Assert.Equal(52.0 / 60, plan.BilledHoursPerNode, 6);           // 51.67 min rounded up to 52
        Assert.Equal(4 * 52.0 / 60 * 2.0, plan.Cost, 6);
    }

    [Fact]
    public void AMinimumRental_IsWhatEachNodeIsBilled_WhenTheWorkIsShorter()
    {
        var plan = FleetPlanner.Plan(new PlanRequest(36_000, null, 10, TimeSpan.FromHours(2), 1.0, 24, TimeSpan.Zero));
        Assert.Equal(1, plan.Nodes);
        Assert.Equal(24, plan.BilledHoursPerNode);
        Assert.Equal(24, plan.NodeHours);
        Assert.Contains(plan.Steps, s => s.Contains("minimum rental", StringComparison.Ordinal));
    }

    [Fact]
    public void ASteadyRate_NeedsEnoughNodesToKeepUp()
    {
        var plan = FleetPlanner.Plan(new PlanRequest(null, 25, 10, TimeSpan.FromHours(24), 1.5, 24, TimeSpan.Zero));
        Assert.Equal(3, plan.Nodes);
        Assert.Equal(25.0 / 30, plan.Utilization, 6);
        Assert.Equal(72 * 1.5, plan.Cost, 6);
    }

    [Fact]
    public void AnSloShorterThanTheColdStart_IsRefused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => FleetPlanner.Plan(new PlanRequest(10, null, 1, TimeSpan.FromMinutes(5), 1, 0, TimeSpan.FromMinutes(10))));
}
