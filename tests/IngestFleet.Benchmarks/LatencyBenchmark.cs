using System.Globalization;
using IngestFleet.Embedding.Models;

namespace IngestFleet.Benchmarks;

/// <summary>
/// Throughput across network latency: a worker process whose broker and bucket sit behind a <see cref="LatencyProxy"/>
/// adding a fixed delay each way (a rented node tens of milliseconds from them), against the same worker behind the same
/// proxies with no delay (the proxy's own copying costs this machine's cores what a real network path would not cost
/// the node, so that is the fair baseline; the direct figure is printed too), back to back, for each number of batches
/// in flight. clip-tiny stands in for a fast accelerator (its inference is nearly free, so a round trip the worker waits
/// for shows at once); the ViT-B/32-size tower is the CPU case. Target (issue 22): clip-tiny with 40 ms each way ≥ 0.9 ×
/// its images/s without the delay, at the depth <c>tune</c> chooses for that round trip.
/// </summary>
internal static class LatencyBenchmark
{
    private const int Batch = 16;
    private const int Threads = 2;

    public static async Task RunAsync(bool quick, string[] args)
    {
        var delayMs = BenchArgs.Int(args, "--delay-ms", 40);
        var on = BenchArgs.Value(args, "--delay-on") ?? "both";
        if (on is not ("both" or "s3" or "broker")) throw new ArgumentException("--delay-on takes both, s3 or broker");
        int[] depths = BenchArgs.Value(args, "--depths") is { } d
            ? d.Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray()
            : [1, 2, 3];
        var only = BenchArgs.Value(args, "--models")?.Split(',');
        var photos = BenchPaths.CatalogPhotos;
        var models = new (string Name, Func<ModelManifest> Manifest, int Images)[]
            {
                ("clip-tiny", () => ManifestLoader.Load(Path.Combine(BenchPaths.Repo, "models", "clip-tiny-r1")), quick ? 320 : 960),
                ("vit-b32", BenchPaths.VitB32, quick ? 96 : 320),
            }
            .Where(m => only is null || only.Contains(m.Name)).Select(m => (m.Name, m.Manifest(), m.Images)).ToArray();
        Console.WriteLine($"== latency: {(on == "both" ? "broker and S3" : on)} behind a proxy adding {delayMs} ms each way (round trip +{2 * delayMs} ms) against direct; " +
                          $"batch {Batch}, {Threads} intra-op threads, batches in flight {string.Join(", ", depths)}; 2048-px JPEGs as s3:// jobs");
        var rows = new List<string>();
        foreach (var (name, manifest, images) in models)
        {
            foreach (var depth in depths)
            {
                // The proxy costs this process CPU (it copies every image) that a real network path would not cost the node:
                // the baseline is the same proxies with no delay, and the direct figure is printed beside it.
                var direct = await OneAsync(manifest, photos, images, depth, null, on);
                var zero = await OneAsync(manifest, photos, images, depth, 0, on);
                var delayed = await OneAsync(manifest, photos, images, depth, delayMs, on);
                Console.WriteLine($"  {name}, {depth} in flight: {images / direct:0.0} images/s direct, {images / zero:0.0} through the proxy with no delay, " +
                                  $"{images / delayed:0.0} with {delayMs} ms each way ({zero / delayed:0.00} of no delay)");
                rows.Add($"| {name} | {images} | {depth} | {images / direct:0.0} | {images / zero:0.0} | {images / delayed:0.0} | {zero / delayed:0.00} |");
            }
        }
        Console.WriteLine();
        Console.WriteLine($"| model | jobs | batches in flight | images/s direct | images/s, proxy with no delay | images/s, +{delayMs} ms each way | ratio to no delay |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (var r in rows) Console.WriteLine(r);
    }

    /// <returns>Seconds from the first publish to the last vector.</returns>
    /// <param name="delayMs">Null: the worker reaches the broker and S3 directly; else through proxies with this delay
    /// (on <paramref name="on"/>: both, s3 or broker; the other proxy has none).</param>
    private static async Task<double> OneAsync(ModelManifest manifest, string[] photos, int images, int depth, int? delayMs, string on)
    {
        var settings = new Dictionary<string, string?> { ["IngestFleet:Fleet:BatchesInFlight"] = depth.ToString(CultureInfo.InvariantCulture) };
        if (delayMs is null)
            return (await FleetWorkerRun.RunAsync(new FleetRunSpec(manifest, photos, images, Batch, Threads, "latency", settings))).Seconds;
        var oneWay = TimeSpan.FromMilliseconds(delayMs.Value);
        var (broker, brokerUri) = LatencyProxy.For(BenchPaths.RabbitUri, on == "s3" ? TimeSpan.Zero : oneWay);
        var (s3, s3Uri) = LatencyProxy.For(BenchPaths.S3Endpoint, on == "broker" ? TimeSpan.Zero : oneWay);
        await using (broker)
        await using (s3)
        {
            settings["IngestFleet:RabbitMq:Uri"] = brokerUri;
            settings["IngestFleet:S3:ServiceUrl"] = s3Uri.TrimEnd('/');
            return (await FleetWorkerRun.RunAsync(new FleetRunSpec(manifest, photos, images, Batch, Threads, "latency", settings))).Seconds;
        }
    }

}
