using IngestFleet.Faults;
using Xunit.Abstractions;

namespace IngestFleet.IntegrationTests.Faults;

/// <summary>
/// The fault suite: each scenario runs real <c>ingestfleet worker</c> processes against the real broker and S3 server,
/// applies its fault, and ends with the ledger check: every item exactly one vector or one dead letter, nothing in any
/// queue (work, _error, _skipped, poison; ready or held), no valid photo dead-lettered because of an infrastructure
/// fault. The same scenarios run on 2,000 items in the <c>faults</c> benchmark.
/// </summary>
[Collection(FleetTests.Name)]
public sealed class FaultSuiteTests(FleetFixture fixture, ITestOutputHelper output)
{
    [Theory]
    [InlineData(FaultScenario.KillNine)]
    [InlineData(FaultScenario.BrokerRestart)]
    [InlineData(FaultScenario.S3Outage)]
    [InlineData(FaultScenario.SigTerm)]
    [InlineData(FaultScenario.Poison)]
    [InlineData(FaultScenario.LongIds)]
    [InlineData(FaultScenario.HostileBodies)]
    public async Task EveryItemEndsAsOneVectorOrOneDeadLetter_UnderTheFault(FaultScenario scenario)
    {
        _ = fixture; // the fixture checks that the services are configured
        var env = FaultEnvironment.FromEnvironment(Path.Combine(AppContext.BaseDirectory, "ingestfleet.dll"), Path.Combine(AppContext.BaseDirectory, "data", "photos"))
            ?? throw new InvalidOperationException("set the INGESTFLEET_TEST_* variables (source .ci/services.sh)");
        var lab = new FaultLab(env, line => { try { output.WriteLine(line); } catch (InvalidOperationException) { } });
        // Kill and SIGTERM rounds need work left when they strike: more items, so the tiny model does not finish first.
        var items = scenario switch { FaultScenario.Poison => 16, FaultScenario.KillNine or FaultScenario.SigTerm => 160, _ => 48 };
        var row = await lab.RunAsync(scenario, items, batch: 8, TimeSpan.FromMinutes(4));
        output.WriteLine(LedgerRow.Header);
        output.WriteLine(row.ToString());
        Assert.True(row.Holds, row.ToString());
        switch (scenario)
        {
            case FaultScenario.SigTerm:
                // Each SIGTERM drained its batch and exited 0; with a delivery limit of 1, a returned batch would have turned poison.
                var signals = row.Notes.Where(n => n.StartsWith("SIGTERM #", StringComparison.Ordinal)).ToList();
                Assert.NotEmpty(signals);
                Assert.All(signals, n => Assert.Contains("exit 0", n, StringComparison.Ordinal));
                Assert.Contains(signals, n => !n.Contains($"at {row.Items} of", StringComparison.Ordinal)); // at least one struck mid-run
                Assert.False(row.Reasons.ContainsKey("poison"), row.ToString());
                Assert.Equal(row.Items, row.Vectors);
                break;
            case FaultScenario.KillNine:
                Assert.Contains(row.Notes, n => n.StartsWith("kill -9 #", StringComparison.Ordinal) && !n.Contains($"at {row.Items} of", StringComparison.Ordinal));
                Assert.Equal(row.Items, row.Vectors);
                break;
            case FaultScenario.Poison:
                Assert.True(row.Reasons.GetValueOrDefault("poison") >= 8, row.ToString()); // the whole first batch, with its delivery count
                break;
            case FaultScenario.HostileBodies:
                Assert.Equal(row.Items / 8, row.Reasons.GetValueOrDefault("too_many_bytes"));
                Assert.Equal(3 * row.Items / 8, row.Reasons.GetValueOrDefault("transient_exhausted"));
                Assert.Equal(row.Items / 2, row.Vectors);
                break;
            default:
                Assert.Equal(row.Items, row.Vectors);
                break;
        }
    }
}
