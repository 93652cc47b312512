using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using IngestFleet.Contracts;
using IngestFleet.Gateway;
using IngestFleet.Messaging;
using IngestFleet.Messaging.Broker;
using IngestFleet.Messaging.Publishing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace IngestFleet.Benchmarks;

/// <summary>
/// The gateway's accepted jobs per second with one job per POST against arrays of 50 jobs per POST, side by side in one
/// run on the local broker, and the latency of each request (p50/p99). The load generator is wrk where it is installed
/// (Debian's package; a closed loop: a fixed number of connections, each sending its next request when the answer
/// arrives), else an in-process generator with the same model; every 202 means the broker confirmed every job of the
/// request. Target (issue 22): one-job POSTs ≥ 0.8 × the jobs/s of 50-job arrays, with p99 ≤ 100 ms.
/// <para>
/// The same run measures what a one-job POST cannot avoid on these cores, whatever the gateway does: a bare HTTP
/// endpoint (Kestrel reads the body and answers 202; no parsing, no broker) under the same load generator, and the
/// fleet's own publisher alone (no HTTP) with one job per call and with 50 per call, 32 calls at once, as the requests
/// come. From their CPU per request it prints an upper bound on one-job jobs/s on this machine (cores ÷ the least a
/// one-job POST can cost: a bare HTTP exchange, the broker's work for a lone publish, the client's share of a burst and
/// the gateway's per-job work as in an array), beside the arrays' jobs/s.
/// </para>
/// </summary>
internal static class GatewayBenchmark
{
    private const int Connections = 32;
    private const int ArraySize = 50;

    /// <param name="Refused">Requests not answered 202 (for the publisher alone: jobs not confirmed).</param>
    /// <param name="BrokerCpu">RabbitMQ's CPU seconds during the load.</param>
    /// <param name="ServerCpu">This process's CPU seconds during the load: the gateway (or the bare endpoint, or the
    /// publisher), and the load generator too when it runs in this process.</param>
    /// <param name="LoadCpu">wrk's CPU seconds (0 when the load generator runs in this process).</param>
    private sealed record Load(string Name, int JobsPerRequest, double Seconds, long Requests, long Accepted, long Refused, double P50Ms, double P99Ms,
        double BrokerCpu, double ServerCpu, double LoadCpu)
    {
        public double JobsPerSecond => Accepted / Seconds;
        public double BrokerMicrosPerJob => BrokerCpu / Math.Max(1, Accepted) * 1e6;
        public double ServerMicrosPerJob => ServerCpu / Math.Max(1, Accepted) * 1e6;
        public double LoadMicrosPerRequest => LoadCpu / Math.Max(1, Requests) * 1e6;
        /// <summary>Every process's CPU per request: broker, server, load generator.</summary>
        public double MicrosPerRequest => (BrokerCpu + ServerCpu + LoadCpu) / Math.Max(1, Requests) * 1e6;
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
        await using var bare = BareEndpoint();
        await bare.StartAsync();
        var url = new Uri(new Uri(app.Urls.First()), "/v1/jobs");
        var bareUrl = new Uri(new Uri(bare.Urls.First()), "/v1/jobs");
        var wrk = Wrk.Find();
        Console.WriteLine($"== gateway: {Connections} connections, {seconds} s per load, {rounds} alternating round(s); one job per POST against {ArraySize} per POST; " +
                          $"load generator {(wrk is null ? "in this process (wrk is not installed: apt-get install wrk)" : wrk.Version)}; broker {BenchPaths.RabbitUri}; {Environment.ProcessorCount} cores");
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = Connections, PooledConnectionLifetime = Timeout.InfiniteTimeSpan };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
        var rabbit = new RabbitMqOptions { Uri = BenchPaths.RabbitUri };
        await using var link = new BrokerLink(rabbit, "gateway-benchmark");
        // The gateway's queue settings, so both declare the same queues.
        var fleet = new FleetOptions { QueuePrefix = prefix, MaxQueueLength = 100_000_000 };
        var publisher = new JobPublisher(link, rabbit, fleet, TimeProvider.System);
        // Every load starts on an empty queue: a quorum queue holding the hundreds of thousands of jobs of the loads
        // before it costs the broker more per message, which would favour whichever load runs first.
        async Task EmptyQueueAsync()
        {
            await using var channel = await link.OpenChannelAsync(confirms: false, CancellationToken.None);
            await channel.QueuePurgeAsync(fleet.QueueName("bulk"));
        }
        async Task<Load> Drive(Uri target, string name, int size, double s)
        {
            await EmptyQueueAsync();
            return wrk is null ? await DriveAsync(http, target, name, size, s) : await wrk.DriveAsync(target, name, size, s, Connections);
        }
        async Task<Load> PublishAlone(string name, int size, double s)
        {
            await EmptyQueueAsync();
            return await PublishAloneAsync(publisher, name, size, s);
        }
        var loads = new List<Load>();
        try
        {
            await Drive(url, "warm-up", 1, 2); // JIT, connections, the queue's declaration
            await Drive(bareUrl, "warm-up", 1, 1);
            await PublishAlone("warm-up", 1, 1);
            for (var round = 1; round <= rounds; round++)
            {
                foreach (var (name, target, size) in new[] { ("single", url, 1), ("array", url, ArraySize), ("bare HTTP", bareUrl, 1) })
                    Report(round, await Drive(target, name, size, seconds));
                foreach (var (name, size) in new[] { ("publish 1", 1), ("publish 50", ArraySize) })
                    Report(round, await PublishAlone(name, size, seconds / 2.0));
            }
        }
        finally
        {
            await app.StopAsync();
            await bare.StopAsync();
            await BenchPaths.DeleteTopologyAsync(BenchPaths.RabbitUri, prefix);
        }

        void Report(int round, Load load)
        {
            loads.Add(load);
            Console.WriteLine($"  round {round}: {load.Name,-10} {load.JobsPerSecond,8:0} jobs/s ({load.Requests / load.Seconds:0} requests/s, {load.Refused} refused), " +
                              $"p50 {load.P50Ms:0.0} ms, p99 {load.P99Ms:0.0} ms; CPU per job: RabbitMQ {load.BrokerMicrosPerJob:0} µs, " +
                              $"{(load.Name.StartsWith("publish", StringComparison.Ordinal) ? "publisher" : "server")} {load.ServerMicrosPerJob:0} µs; " +
                              $"load generator {load.LoadMicrosPerRequest:0} µs per request");
        }

        static double Med(IEnumerable<double> v) => MathNet.Numerics.Statistics.Statistics.Median(v);
        Load[] Set(string name) => loads.Where(l => l.Name == name).ToArray();
        var (single, array, http0, lone, burst) = (Set("single"), Set("array"), Set("bare HTTP"), Set("publish 1"), Set("publish 50"));
        var ratios = single.Zip(array, (s, a) => s.JobsPerSecond / a.JobsPerSecond).ToArray();
        Console.WriteLine();
        Console.WriteLine("| load | jobs/s | requests/s | p50 ms | p99 ms | RabbitMQ CPU µs/job | server or publisher CPU µs/job | load generator CPU µs/request | all CPU µs/request |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var (label, set) in new[] { ("POST, one job (gateway)", single), ($"POST, {ArraySize} jobs (gateway)", array), ("POST, one job (bare HTTP, no broker)", http0),
                     ("publisher alone, 1 job per call", lone), ($"publisher alone, {ArraySize} jobs per call", burst) })
            Console.WriteLine($"| {label} | {Med(set.Select(l => l.JobsPerSecond)):0} | {Med(set.Select(l => l.Requests / l.Seconds)):0} | " +
                              $"{Med(set.Select(l => l.P50Ms)):0.0} | {Med(set.Select(l => l.P99Ms)):0.0} | {Med(set.Select(l => l.BrokerMicrosPerJob)):0} | " +
                              $"{Med(set.Select(l => l.ServerMicrosPerJob)):0} | {Med(set.Select(l => l.LoadMicrosPerRequest)):0} | {Med(set.Select(l => l.MicrosPerRequest)):0} |");
        Console.WriteLine($"targets: one-job ÷ array jobs/s {Med(ratios):0.00} (per round {string.Join(", ", ratios.Select(r => r.ToString("0.00", CultureInfo.InvariantCulture)))}; ≥ 0.8), " +
                          $"one-job p99 {Med(single.Select(l => l.P99Ms)):0.0} ms (≤ 100)");
        // The floors. A one-job POST costs at least a bare HTTP exchange (server and load generator), one lone confirmed
        // publish on the broker, the client's share of a publish inside a burst (its best case), and the gateway's own
        // per-job work (parse, schema, validation, limits: what an array's job costs the gateway beyond its publish).
        var bareHttp = Med(http0.Select(l => (l.ServerCpu + l.LoadCpu) / Math.Max(1, l.Requests) * 1e6));
        var loneBroker = Med(lone.Select(l => l.BrokerMicrosPerJob));
        var burstClient = Med(burst.Select(l => l.ServerMicrosPerJob));
        var perJobWork = Math.Max(0, Med(array.Select(l => l.ServerMicrosPerJob)) - burstClient);
        var floor = bareHttp + loneBroker + burstClient + perJobWork;
        var bound = Environment.ProcessorCount / (floor / 1e6);
        var arrays = Med(array.Select(l => l.JobsPerSecond));
        // The arrays do not keep every core busy either: at the same share of the machine as theirs, the bound is the
        // ratio of CPU per job.
        var arrayCpuPerJob = Med(array.Select(l => l.MicrosPerRequest / l.JobsPerRequest));
        var arrayShare = arrays * arrayCpuPerJob / 1e6 / Environment.ProcessorCount;
        Console.WriteLine($"bound: a one-job POST costs at least {floor:0} µs of CPU here: bare HTTP exchange {bareHttp:0} + RabbitMQ for a lone publish {loneBroker:0} " +
                          $"+ the client's share of a burst {burstClient:0} + the gateway's per-job work {perJobWork:0}; on {Environment.ProcessorCount} cores at most {bound:0} one-job jobs/s " +
                          $"= {bound / arrays:0.00} × the arrays' {arrays:0} if it kept every core busy; the arrays used {arrayShare:P0} of them, and at that share " +
                          $"(their {arrayCpuPerJob:0} µs per job ÷ {floor:0}) {arrayCpuPerJob / floor:0.00} (the target needs 0.8)");
    }

    /// <summary>A bare Kestrel endpoint: reads the body, answers 202. What any HTTP server on these cores costs per request.</summary>
    private static WebApplication BareEndpoint()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var bare = builder.Build();
        bare.MapPost("/v1/jobs", async (HttpContext c) =>
        {
            await c.Request.Body.CopyToAsync(Stream.Null, c.RequestAborted);
            return Results.StatusCode(StatusCodes.Status202Accepted);
        });
        return bare;
    }

    /// <summary>The fleet's publisher with no HTTP in front: <see cref="Connections"/> callers at once, each publishing its
    /// next <paramref name="jobsPerCall"/> jobs when the broker confirmed the last, as the gateway's requests do.</summary>
    private static Task<Load> PublishAloneAsync(JobPublisher publisher, string name, int jobsPerCall, double seconds) =>
        ClosedLoopAsync(name, jobsPerCall, seconds, async first =>
        {
            var jobs = Enumerable.Range(0, jobsPerCall).Select(k => new EmbedCatalogImage
            {
                Tenant = "bench", Shard = $"s{(first + k) % 64}", ItemId = $"pub-{first + k}", Image = $"s3://catalog/img/{first + k}.jpg", Priority = "bulk",
            }).ToList();
            var summary = await publisher.PublishAsync(jobs, null, CancellationToken.None);
            return (summary.Confirmed, summary.Failed.Count);
        });

    /// <summary>The in-process load generator (where wrk is not installed): POSTs over <paramref name="http"/>.</summary>
    private static Task<Load> DriveAsync(HttpClient http, Uri url, string name, int jobsPerRequest, double seconds) =>
        ClosedLoopAsync(name, jobsPerRequest, seconds, async first =>
        {
            using var body = new StringContent(Body(first, jobsPerRequest), Encoding.UTF8, "application/json");
            using var answer = await http.PostAsync(url, body);
            return answer.StatusCode == HttpStatusCode.Accepted ? (jobsPerRequest, 0) : (0, 1);
        });

    /// <summary><see cref="Connections"/> loops in this process, each making its next call when the last returned; the
    /// broker's and this process's CPU over the load, and each call's latency.</summary>
    private static async Task<Load> ClosedLoopAsync(string name, int jobsPerCall, double seconds, Func<long, Task<(long Accepted, long Refused)>> call)
    {
        var latencies = new List<double>[Connections];
        long accepted = 0, refused = 0, sequence = 0;
        var broker = BenchPaths.Pids("beam.smp");
        var (broker0, own0) = (BenchPaths.CpuSeconds(broker), BenchPaths.CpuSeconds([Environment.ProcessId]));
        var run = Stopwatch.StartNew();
        var until = TimeSpan.FromSeconds(seconds);
        await Task.WhenAll(Enumerable.Range(0, Connections).Select(c => Task.Run(async () =>
        {
            var mine = latencies[c] = new List<double>(4096);
            while (run.Elapsed < until)
            {
                var first = Interlocked.Add(ref sequence, jobsPerCall) - jobsPerCall;
                var started = Stopwatch.GetTimestamp();
                var (ok, no) = await call(first);
                mine.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                Interlocked.Add(ref accepted, ok);
                Interlocked.Add(ref refused, no);
            }
        })));
        var elapsed = run.Elapsed.TotalSeconds;
        var (broker1, own1) = (BenchPaths.CpuSeconds(broker), BenchPaths.CpuSeconds([Environment.ProcessId]));
        var all = latencies.SelectMany(l => l).ToArray();
        return new Load(name, jobsPerCall, elapsed, all.Length, accepted, refused, BenchPaths.Percentile(all, 50), BenchPaths.Percentile(all, 99),
            broker1 - broker0, own1 - own0, 0);
    }

    private static string Body(long first, int count)
    {
        static string Job(long i) => $$"""{"tenant":"bench","shard":"s{{i % 64}}","item_id":"item-{{i}}","image":"s3://catalog/img/{{i}}.jpg","priority":"bulk"}""";
        return count == 1 ? Job(first) : "[" + string.Join(",", Enumerable.Range(0, count).Select(k => Job(first + k))) + "]";
    }

    /// <summary>wrk (a C load generator) as a child process: the same bodies as <see cref="Body"/>, built by a Lua script
    /// per request; its CPU is read from the shell that waits for it (the children's times in /proc/self/stat).</summary>
    private sealed class Wrk(string path, string version)
    {
        public string Version { get; } = version;

        public static Wrk? Find()
        {
            var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Select(d => Path.Combine(d, "wrk")).FirstOrDefault(File.Exists);
            if (path is null) return null;
            using var p = Process.Start(new ProcessStartInfo(path, "-v") { RedirectStandardOutput = true, RedirectStandardError = true })!;
            var text = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            p.WaitForExit();
            return new Wrk(path, text.Split('\n')[0].Split('[')[0].Trim());
        }

        public async Task<Load> DriveAsync(Uri url, string name, int jobsPerRequest, double seconds, int connections)
        {
            var script = Path.Combine(Path.GetTempPath(), $"ingestfleet-wrk-{Guid.NewGuid():N}.lua");
            await File.WriteAllTextAsync(script, Script(jobsPerRequest));
            try
            {
                var broker = BenchPaths.Pids("beam.smp");
                var (broker0, own0) = (BenchPaths.CpuSeconds(broker), BenchPaths.CpuSeconds([Environment.ProcessId]));
                var run = Stopwatch.StartNew();
                // The shell waits for wrk, then prints its children's CPU ticks (cutime, cstime: fields 16 and 17 of its stat).
                var command = $"'{path}' -t2 -c{connections} -d{seconds.ToString("0.###", CultureInfo.InvariantCulture)}s --timeout 30s -s '{script}' '{url}'; " +
                              "read -r -a s < /proc/$$/stat; echo \"CHILDCPU ${s[15]} ${s[16]}\"";
                using var p = Process.Start(new ProcessStartInfo("bash", ["-c", command]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
                var stdout = p.StandardOutput.ReadToEndAsync();
                var stderr = p.StandardError.ReadToEndAsync();
                await p.WaitForExitAsync();
                var elapsed = run.Elapsed.TotalSeconds;
                var (broker1, own1) = (BenchPaths.CpuSeconds(broker), BenchPaths.CpuSeconds([Environment.ProcessId]));
                var lines = (await stdout).Split('\n');
                string Field(string line, string key) => line.Split(' ').First(f => f.StartsWith(key + "=", StringComparison.Ordinal))[(key.Length + 1)..];
                var result = lines.FirstOrDefault(l => l.StartsWith("RESULT ", StringComparison.Ordinal))
                             ?? throw new InvalidOperationException($"wrk printed no result: {await stdout} {await stderr}");
                var cpu = (lines.FirstOrDefault(l => l.StartsWith("CHILDCPU ", StringComparison.Ordinal))
                           ?? throw new InvalidOperationException($"the shell printed no CPU times for wrk: {await stdout} {await stderr}")).Split(' ');
                // wrk counts answered requests; a socket error is not one of them, a non-2xx answer is.
                var requests = long.Parse(Field(result, "requests"), CultureInfo.InvariantCulture);
                var non2xx = long.Parse(Field(result, "non2xx"), CultureInfo.InvariantCulture);
                var refused = non2xx + long.Parse(Field(result, "errors"), CultureInfo.InvariantCulture);
                var wrkSeconds = double.Parse(Field(result, "seconds"), CultureInfo.InvariantCulture);
                return new Load(name, jobsPerRequest, wrkSeconds > 0 ? wrkSeconds : elapsed, requests, (requests - non2xx) * jobsPerRequest, refused,
                    double.Parse(Field(result, "p50us"), CultureInfo.InvariantCulture) / 1000, double.Parse(Field(result, "p99us"), CultureInfo.InvariantCulture) / 1000,
                    broker1 - broker0, own1 - own0, (long.Parse(cpu[1], CultureInfo.InvariantCulture) + long.Parse(cpu[2], CultureInfo.InvariantCulture)) / 100.0);
            }
            finally
            {
                File.Delete(script);
            }
        }

        /// <summary>The Lua script: each wrk thread numbers its own jobs (thread id and a counter); <c>done</c> prints one
        /// line with the requests, the answers that were not 2xx, the socket errors, the run's seconds and p50/p99 in µs.</summary>
        private static string Script(int jobsPerRequest) => $$"""
            local threads = 0
            setup = function(thread) threads = threads + 1; thread:set("tid", threads) end
            local n = 0
            local function job()
              n = n + 1
              local i = tid .. "-" .. n
              return '{"tenant":"bench","shard":"s' .. (n % 64) .. '","item_id":"item-' .. i .. '","image":"s3://catalog/img/' .. i .. '.jpg","priority":"bulk"}'
            end
            request = function()
              local body
              if {{jobsPerRequest}} == 1 then body = job() else
                local parts = {}
                for k = 1, {{jobsPerRequest}} do parts[k] = job() end
                body = "[" .. table.concat(parts, ",") .. "]"
              end
              return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, body)
            end
            done = function(summary, latency, requests)
              local e = summary.errors
              io.write(string.format("RESULT requests=%d non2xx=%d errors=%d seconds=%.3f p50us=%d p99us=%d\n", summary.requests, e.status,
                e.connect + e.read + e.write + e.timeout, summary.duration / 1e6, latency:percentile(50), latency:percentile(99)))
            end
            """;
    }
}
