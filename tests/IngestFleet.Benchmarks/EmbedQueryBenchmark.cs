using System.Diagnostics;
using System.Net.Http.Json;
using IngestFleet.Contracts;
using IngestFleet.Gateway;
using IngestFleet.Messaging;
using IngestFleet.Messaging.Broker;
using IngestFleet.Messaging.Publishing;
using IngestFleet.Storage.S3;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;

namespace IngestFleet.Benchmarks;

/// <summary>
/// The online query path under load (issue 23): <c>POST /v1/embed</c> latency (request to answer, through the gateway,
/// RabbitMQ request/reply and the worker) on an idle worker and on the same worker while a bulk backlog of 2048-px
/// catalog JPEGs saturates it. One worker process (every class, as <c>ingestfleet worker</c> runs), the gateway in
/// this process, ViT-B/32-size towers, real RabbitMQ and S3. Two query kinds: one text, and one catalog image from the bucket.
/// </summary>
internal static class EmbedQueryBenchmark
{
    private const int IntervalMs = 100;

    private static int FreePort()
    {
        using var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        return ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
    }

    public static async Task RunAsync(bool quick, string[] args)
    {
        var samples = quick ? 20 : 100;
        var rounds = BenchArgs.Int(args, "--rounds", quick ? 1 : 3);
        var rowsOfRound = new List<(double[] IdleText, double[] LoadText, double[] IdleImage, double[] LoadImage)>();
        var manifest = BenchPaths.VitB32();
        var photos = BenchPaths.CatalogPhotos.Select(File.ReadAllBytes).ToArray();
        var bucket = $"query-{Guid.NewGuid():N}"[..20];
        var prefix = $"query-{Guid.NewGuid():N}"[..12] + "-";
        using var store = new S3ObjectStore(new S3Options { ServiceUrl = BenchPaths.S3Endpoint, Bucket = bucket, AccessKey = "S3RVER", SecretKey = "S3RVER", CreateBucket = true, ListObjectsVersion = 1 });
        await store.ProbeAsync(CancellationToken.None);
        for (var i = 0; i < photos.Length; i++)
            await store.PutAsync($"catalog/{i}.jpg", photos[i], "image/jpeg", CancellationToken.None);

        // The worker is its own process (`ingestfleet worker`, every class, the worker's runtime settings), as deployed;
        // the gateway runs in this process, as its own host would.
        var settings = BenchPaths.WorkerSettings(bucket, prefix, new() { ["IngestFleet:Limits:ShedEnabled"] = "false", ["IngestFleet:S3:ListObjectsVersion"] = "1" });
        var port = FreePort();
        var psi = BenchPaths.Dotnet(Path.Combine(AppContext.BaseDirectory, "ingestfleet.dll"), "worker", "--model", manifest.Directory, "--ep", "cpu",
            "--threads", "2", "--batch", "16", "--health-port", port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        foreach (var (k, v) in settings) psi.Environment[k.Replace(":", "__", StringComparison.Ordinal)] = v;
        string[] texts = ["a red leather handbag", "blue denim jacket with pockets", "white ceramic mug", "vintage wooden chair", "gold ring"];
        double[] idleText = [], idleImage = [], loadText = [], loadImage = [];
        var compute = new Dictionary<string, List<double>>();
        long bulkDone = 0;
        uint bulkLeft = 0;
        await BenchPaths.RunChildAsync(psi, async worker =>
        {
            using (var health = new HttpClient())
                for (var ready = false; !ready;)
                {
                    if (worker.HasExited) throw new InvalidOperationException("the worker exited before it was ready");
                    try { ready = (await health.GetAsync(new Uri($"http://127.0.0.1:{port}/healthz/ready"))).IsSuccessStatusCode; }
                    catch (HttpRequestException) { }
                    if (!ready) await Task.Delay(250);
                }
            var gatewayConfig = new Dictionary<string, string?>(settings) { ["IngestFleet:Gateway:Auth:AllowAnonymous"] = "true" };
            await using var gateway = GatewayApp.Build(gatewayConfig, "http://127.0.0.1:0", LogLevel.Warning);
            await gateway.StartAsync();
            using var http = new HttpClient { BaseAddress = gateway.BoundAddress(), Timeout = TimeSpan.FromSeconds(60) };
            var rabbit = new RabbitMqOptions { Uri = BenchPaths.RabbitUri };
            await using var link = new BrokerLink(rabbit, "embed-bench");
            var publisher = new JobPublisher(link, rabbit, new FleetOptions { QueuePrefix = prefix }, TimeProvider.System);

            async Task<double[]> QueriesAsync(bool images, string? label = null)
            {
                var ms = new List<double>();
                var worked = new List<double>();
                for (var i = 0; i < samples; i++)
                {
                    object body = images
                        ? new { model = manifest.Revision, tenant = "bench", images = new[] { $"s3://{bucket}/catalog/{i % photos.Length}.jpg" }, deadline_ms = 30_000 }
                        : new { model = manifest.Revision, texts = new[] { texts[i % texts.Length] }, deadline_ms = 30_000 };
                    var started = Stopwatch.GetTimestamp();
                    using var response = await http.PostAsJsonAsync("/v1/embed", body);
                    var answer = await response.Content.ReadAsStringAsync();
                    if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"/v1/embed answered {(int)response.StatusCode}: {answer}");
                    ms.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                    using (var reply = System.Text.Json.JsonDocument.Parse(answer))
                        worked.Add(reply.RootElement.GetProperty("compute_ms").GetDouble());
                    await Task.Delay(IntervalMs);
                }
                if (label is not null) compute[label] = [.. compute.GetValueOrDefault(label, []), .. worked];
                return [.. ms];
            }

            // The worker declares its query queue once its host runs; then warm-up: JIT, ORT arenas, the reply channel, the text tower.
            for (var tries = 0; ; tries++)
            {
                using var probe = await http.PostAsJsonAsync("/v1/embed", new { model = manifest.Revision, texts = texts, deadline_ms = 30_000 });
                if (probe.IsSuccessStatusCode) break;
                if (tries > 60) throw new InvalidOperationException($"the worker never answered: {(int)probe.StatusCode}");
                await Task.Delay(500);
            }
            await QueriesAsync(images: false);
            await QueriesAsync(images: true);

            async Task<long> PartsAsync()
            {
                var parts = 0L;
                await foreach (var key in store.ListAsync("vectors/", CancellationToken.None)) parts++;
                return parts;
            }

            var factory = new ConnectionFactory { Uri = new Uri(BenchPaths.RabbitUri) };
            // Rounds alternate idle and loaded rows, so that whatever else the shared machine does at one time lands on
            // both sides; the table pools each row's samples over the rounds and also gives each round's ratio.
            for (var round = 0; round < rounds; round++)
            {
                idleText = [.. idleText, .. await QueriesAsync(images: false, "idle text")];
                idleImage = [.. idleImage, .. await QueriesAsync(images: true, "idle image")];

                // A bulk backlog far larger than what the node does during the measurement.
                var before = await PartsAsync();
                await publisher.PublishAsync(Enumerable.Range(0, 2000).Select(i => new EmbedCatalogImage
                {
                    Tenant = "bench", Shard = "bulk", ItemId = $"bulk-{round}-{i:D6}", Image = $"s3://{bucket}/catalog/{i % photos.Length}.jpg", Priority = "bulk",
                }).ToList(), null, CancellationToken.None);
                await Task.Delay(3000); // bulk at full speed
                loadText = [.. loadText, .. await QueriesAsync(images: false, "load text")];
                loadImage = [.. loadImage, .. await QueriesAsync(images: true, "load image")];
                bulkDone += (await PartsAsync() - before) * 16; // full batches of the backlog (one part file each)

                await using (var connection = await factory.CreateConnectionAsync())
                await using (var channel = await connection.CreateChannelAsync())
                {
                    // The loaded rows count only if the backlog outlasted them.
                    var left = (await channel.QueueDeclarePassiveAsync(prefix + "bulk")).MessageCount;
                    if (left == 0) throw new InvalidOperationException("the bulk backlog ran out during the loaded rows: raise it");
                    bulkLeft = Math.Min(bulkLeft == 0 ? left : bulkLeft, left);
                    await channel.QueuePurgeAsync(prefix + "bulk");
                }
                // The worker finishes the batches it already holds: idle again once no part appears for 3 s.
                for (long was = -1, now = await PartsAsync(); now != was; was = now, now = await PartsAsync())
                    await Task.Delay(3000);
                rowsOfRound.Add((idleText[^samples..], loadText[^samples..], idleImage[^samples..], loadImage[^samples..]));
            }
            await gateway.StopAsync();
            using var term = Process.Start("kill", ["-TERM", worker.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            await term.WaitForExitAsync();
        });
        await BenchPaths.DeleteTopologyAsync(BenchPaths.RabbitUri, prefix);

        Console.WriteLine();
        Console.WriteLine($"## POST /v1/embed: request → answer, idle and under a bulk backlog ({rounds} rounds of idle then loaded rows, {samples} sequential queries " +
                          $"per row and round, one every {IntervalMs} ms, pooled; {manifest.Revision}; worker process, gateway in the harness; {Environment.ProcessorCount} cores; " +
                          $"bulk images done during the loaded rows: about {bulkDone}, fewest still queued after a round's loaded rows: {bulkLeft})");
        Console.WriteLine("p95 ratio per round, text: " + string.Join(", ", rowsOfRound.Select(r => (BenchPaths.Percentile(r.LoadText, 95) / BenchPaths.Percentile(r.IdleText, 95)).ToString("0.00"))) +
                          "; image: " + string.Join(", ", rowsOfRound.Select(r => (BenchPaths.Percentile(r.LoadImage, 95) / BenchPaths.Percentile(r.IdleImage, 95)).ToString("0.00"))));
        Console.WriteLine("| query | idle p50 | idle p95 | under bulk p50 | under bulk p95 | **p95 ratio (under bulk ÷ idle)** | worker compute p95 idle / under bulk |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (var (label, key, idle, load) in new[] { ("1 text", "text", idleText, loadText), ("1 catalog image (s3://, 2048 px)", "image", idleImage, loadImage) })
            Console.WriteLine($"| {label} | {BenchPaths.Percentile(idle, 50):0.0} ms | {BenchPaths.Percentile(idle, 95):0.0} ms | {BenchPaths.Percentile(load, 50):0.0} ms | " +
                              $"{BenchPaths.Percentile(load, 95):0.0} ms | **{BenchPaths.Percentile(load, 95) / BenchPaths.Percentile(idle, 95):0.00}** | " +
                              $"{BenchPaths.Percentile(compute["idle " + key], 95):0.0} / {BenchPaths.Percentile(compute["load " + key], 95):0.0} ms |");
    }
}
