using IngestFleet.Faults;

namespace IngestFleet.Benchmarks;

/// <summary>
/// The fault suite's scenarios at catalog scale (2,000 items each, batch 16; 200 with --quick): one ledger row per
/// scenario, every row must hold (no item missing, none with two outcomes, nothing left in any queue, no valid photo
/// dead-lettered because of an infrastructure fault). Needs RabbitMQ, s3rver and rabbitmqctl: source .ci/services.sh.
/// </summary>
internal static class FaultsBenchmark
{
    public static async Task<bool> RunAsync(bool quick)
    {
        var env = FaultEnvironment.FromEnvironment(Path.Combine(AppContext.BaseDirectory, "ingestfleet.dll"), Path.Combine(BenchPaths.Repo, "tests", "data", "photos"))
            ?? throw new InvalidOperationException("faults needs RabbitMQ and an S3 server: source .ci/services.sh first");
        var items = quick ? 200 : 2000;
        Console.WriteLine($"== faults: {items} items per scenario, batch 16, real `ingestfleet worker` processes, RabbitMQ {env.RabbitUri.Split('@')[^1]}, S3 {env.S3Endpoint}");
        Console.WriteLine(LedgerRow.Header);
        var lab = new FaultLab(env);
        var allHold = true;
        foreach (var scenario in Enum.GetValues<FaultScenario>())
        {
            var row = await lab.RunAsync(scenario, scenario == FaultScenario.Poison ? Math.Min(items, 200) : items, 16, TimeSpan.FromMinutes(20));
            Console.WriteLine(row + (row.Holds ? "" : "   <-- LEDGER BROKEN"));
            allHold &= row.Holds;
        }
        Console.WriteLine(allHold ? "every ledger holds" : "a ledger does not hold");
        return allHold;
    }
}
