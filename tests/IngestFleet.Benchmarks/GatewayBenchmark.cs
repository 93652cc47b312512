using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using IngestFleet.Gateway;
using Microsoft.Extensions.Logging;

namespace IngestFleet.Benchmarks;

/// <summary>
/// The gateway's accepted jobs per second with one job per POST against arrays of 50 jobs per POST, side by side in one
/// run on the local broker, and the latency of each request (p50/p99). A closed-loop load generator in this process
/// (wrk's model: a fixed number of connections, each sending its next request when the answer arrives) drives an
/// in-process gateway over real HTTP; every 202 means the broker confirmed every job of the request. Target (issue 22):
/// one-job POSTs ≥ 0.8 × the jobs/s of 50-job arrays, with p99 ≤ 100 ms.
/// </summary>
internal static class GatewayBenchmark
{
    private const int Connections = 32;
    private const int ArraySize = 50;

    /// <param name="BrokerCpu">RabbitMQ's CPU seconds during the load.</param>
    /// <param name="OwnCpu">This process's CPU seconds during the load: the gateway and the load generator.</param>
    private sealed record Load(string Name, int JobsPerRequest, double Seconds, long Requests, long Accepted, long Refused, double P50Ms, double P99Ms,
        double BrokerCpu, double OwnCpu)
    {
        public double JobsPerSecond => Accepted / Seconds;
        public double BrokerMicrosPerJob => BrokerCpu / Accepted * 1e6;
        public double OwnMicrosPerJob => OwnCpu / Accepted * 1e6;
    }

    public static async Task RunAsync(bool quick)
    {
        var seconds = quick ? 5 : 20;
        var rounds = quick ? 1 : 2;
        var prefix = $"gwbench-{Guid.NewGuid():N}"[..16] + "-";
        var config = new Dictionary<string, string?>
        {
            ["IngestFleet:RabbitMq:Uri"] = BenchPaths.RabbitUri, ["IngestFleet:Fleet:QueuePrefix"] = prefix,
            ["IngestFleet:Gateway:Auth:AllowAnonymous"] = "true",
            ["IngestFleet:Gateway:Auth:TenantJobsPerSecond"] = "1000000", ["IngestFleet:Gateway:Auth:TenantBurst"] = "10000000",
            ["IngestFleet:Gateway:MaxConcurrentRequests"] = "256", ["IngestFleet:Gateway:MaxConcurrentRequestsPerKey"] = "256",
            ["IngestFleet:Limits:Queues:bulk:MaxDepth"] = "100000000", ["IngestFleet:Limits:TenantShare"] = "1",
            ["IngestFleet:Fleet:MaxQueueLength"] = "100000000",
        };
        await using var app = GatewayApp.Build(config, "http://127.0.0.1:0", LogLevel.Warning);
        await app.StartAsync();
        var url = new Uri(new Uri(app.Urls.First()), "/v1/jobs");
        Console.WriteLine($"== gateway: {Connections} connections, {seconds} s per load, {rounds} alternating round(s); one job per POST against {ArraySize} per POST; broker {BenchPaths.RabbitUri}");
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = Connections, PooledConnectionLifetime = Timeout.InfiniteTimeSpan };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
        await DriveAsync(http, url, "warm-up", 1, 2); // JIT, connections, the queue's declaration
        var loads = new List<Load>();
        try
        {
            for (var round = 1; round <= rounds; round++)
            {
                foreach (var (name, size) in new[] { ("single", 1), ("array", ArraySize) })
                {
                    var load = await DriveAsync(http, url, name, size, seconds);
                    loads.Add(load);
                    Console.WriteLine($"  round {round}: {name,-6} {load.JobsPerSecond,8:0} jobs/s accepted ({load.Requests / load.Seconds:0} requests/s, {load.Refused} refused), " +
                                      $"p50 {load.P50Ms:0.0} ms, p99 {load.P99Ms:0.0} ms; CPU per accepted job: RabbitMQ {load.BrokerMicrosPerJob:0} µs, " +
                                      $"gateway + load generator {load.OwnMicrosPerJob:0} µs");
                }
            }
        }
        finally
        {
            await app.StopAsync();
            await BenchPaths.DeleteTopologyAsync(BenchPaths.RabbitUri, prefix);
        }
        static double Med(IEnumerable<double> v) => MathNet.Numerics.Statistics.Statistics.Median(v);
        var single = loads.Where(l => l.Name == "single").ToArray();
        var array = loads.Where(l => l.Name == "array").ToArray();
        var ratios = single.Zip(array, (s, a) => s.JobsPerSecond / a.JobsPerSecond).ToArray();
        Console.WriteLine();
        Console.WriteLine("| POST body | jobs/s accepted | requests/s | p50 ms | p99 ms | RabbitMQ CPU µs/job | gateway + load generator CPU µs/job |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (var set in new[] { single, array })
            Console.WriteLine($"| {(set[0].JobsPerRequest == 1 ? "one job" : $"{ArraySize} jobs")} | {Med(set.Select(l => l.JobsPerSecond)):0} | " +
                              $"{Med(set.Select(l => l.Requests / l.Seconds)):0} | {Med(set.Select(l => l.P50Ms)):0.0} | {Med(set.Select(l => l.P99Ms)):0.0} | " +
                              $"{Med(set.Select(l => l.BrokerMicrosPerJob)):0} | {Med(set.Select(l => l.OwnMicrosPerJob)):0} |");
        Console.WriteLine($"targets: one-job ÷ array jobs/s {Med(ratios):0.00} (per round {string.Join(", ", ratios.Select(r => r.ToString("0.00", CultureInfo.InvariantCulture)))}; ≥ 0.8), " +
                          $"one-job p99 {Med(single.Select(l => l.P99Ms)):0.0} ms (≤ 100)");
    }

    private static async Task<Load> DriveAsync(HttpClient http, Uri url, string name, int jobsPerRequest, double seconds)
    {
        var latencies = new List<double>[Connections];
        long accepted = 0, refused = 0, sequence = 0;
        var broker = BenchPaths.Pids("beam.smp");
        var (broker0, own0) = (BenchPaths.CpuSeconds(broker), BenchPaths.CpuSeconds([Environment.ProcessId]));
        var run = Stopwatch.StartNew();
        var until = TimeSpan.FromSeconds(seconds);
        var tasks = Enumerable.Range(0, Connections).Select(c => Task.Run(async () =>
        {
            var mine = latencies[c] = new List<double>(4096);
            while (run.Elapsed < until)
            {
                var first = Interlocked.Add(ref sequence, jobsPerRequest) - jobsPerRequest;
                using var body = new StringContent(Body(first, jobsPerRequest), Encoding.UTF8, "application/json");
                var started = Stopwatch.GetTimestamp();
                using var answer = await http.PostAsync(url, body);
                mine.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                if (answer.StatusCode == HttpStatusCode.Accepted) Interlocked.Add(ref accepted, jobsPerRequest);
                else Interlocked.Increment(ref refused);
            }
        })).ToArray();
        await Task.WhenAll(tasks);
        var elapsed = run.Elapsed.TotalSeconds;
        var (broker1, own1) = (BenchPaths.CpuSeconds(broker), BenchPaths.CpuSeconds([Environment.ProcessId]));
        var all = latencies.SelectMany(l => l).ToArray();
        return new Load(name, jobsPerRequest, elapsed, all.Length, accepted, refused, BenchPaths.Percentile(all, 50), BenchPaths.Percentile(all, 99),
            broker1 - broker0, own1 - own0);
    }

    private static string Body(long first, int count)
    {
        static string Job(long i) => $$"""{"tenant":"bench","shard":"s{{i % 64}}","item_id":"item-{{i}}","image":"s3://catalog/img/{{i}}.jpg","priority":"bulk"}""";
        return count == 1 ? Job(first) : "[" + string.Join(",", Enumerable.Range(0, count).Select(k => Job(first + k))) + "]";
    }
}
