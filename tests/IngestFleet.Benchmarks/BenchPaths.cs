using System.Diagnostics;
using System.Globalization;
using IngestFleet.Embedding.Models;

using IngestFleet.ModelTools;

namespace IngestFleet.Benchmarks;

internal static class BenchPaths
{
    public static string Repo
    {
        get
        {
            var d = new DirectoryInfo(AppContext.BaseDirectory);
            while (d is not null && !File.Exists(Path.Combine(d.FullName, "IngestFleet.sln"))) d = d.Parent;
            return d?.FullName ?? throw new InvalidOperationException("run the benchmarks from inside the repository");
        }
    }

    public static string[] CatalogPhotos => Directory.GetFiles(Path.Combine(Repo, "tests", "data", "photos"), "catalog-*-2048.jpg").Order().ToArray();

    /// <summary>The ViT-B/32-size tower (width 768, 12 layers, 12 heads, patch 32, 224 px, 512-d) and its text tower (the
    /// forge gives it the image width, 768, where CLIP ViT-B/32's is 512: a text call here costs more than the real
    /// one): forged on demand into a cache folder, never committed.</summary>
    public static ModelManifest VitB32()
    {
        var dir = Path.Combine(Path.GetTempPath(), "ingestfleet-bench", "clip-vit-b32-random-r1");
        if (File.Exists(Path.Combine(dir, "manifest.json")) && ManifestLoader.Load(dir) is { Text: not null } cached)
            return cached; // a cache forged before text towers has none: forged again (the image tower's bytes are the same)
        Console.WriteLine($"forging the ViT-B/32-size tower into {dir} …");
        return ModelForge.Forge(new ForgeOptions
        {
            Family = ModelFamily.Clip, Width = 768, Layers = 12, Heads = 12, Patch = 32, ImageSize = 224, OutputDim = 512,
            Seed = 32, Revision = "clip-vit-b32-random-r1", GoldenCount = 2,
        }, dir, epsilon: 1e-3);
    }

    public static double Percentile(IEnumerable<double> values, int p) => MathNet.Numerics.Statistics.Statistics.Percentile(values, p);

    /// <summary>Deletes a benchmark's queues and exchanges: the broker is shared with the tests and later runs, and
    /// hundreds of leftover quorum queues slow it down. (The exclusive shedder lock goes with its connection.)</summary>
    public static async Task DeleteTopologyAsync(string rabbitUri, string prefix)
    {
        var factory = new RabbitMQ.Client.ConnectionFactory { Uri = new Uri(rabbitUri) };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        foreach (var p in new[] { "online", "high", "normal", "bulk" })
        {
            await channel.QueueDeleteAsync(prefix + p, false, false);
            await channel.ExchangeDeleteAsync(prefix + p, false);
        }
    }

    public static string RabbitUri => Environment.GetEnvironmentVariable("INGESTFLEET_TEST_RABBITMQ") ?? "amqp://guest:guest@127.0.0.1:5672/";
    public static string S3Endpoint => Environment.GetEnvironmentVariable("INGESTFLEET_TEST_S3") ?? "http://127.0.0.1:4568";

    /// <summary>Settings for an in-process benchmark worker on the local broker and s3rver: its own bucket and queue
    /// prefix, CPU EP, 2 intra-op threads, no golden check; <paramref name="extra"/> adds or overrides keys.</summary>
    public static Dictionary<string, string?> WorkerSettings(string bucket, string prefix, Dictionary<string, string?> extra)
    {
        var settings = new Dictionary<string, string?>
        {
            ["IngestFleet:RabbitMq:Uri"] = RabbitUri, ["IngestFleet:S3:ServiceUrl"] = S3Endpoint, ["IngestFleet:S3:Bucket"] = bucket,
            ["IngestFleet:S3:AccessKey"] = "S3RVER", ["IngestFleet:S3:SecretKey"] = "S3RVER", ["IngestFleet:S3:CreateBucket"] = "true",
            ["IngestFleet:Fleet:QueuePrefix"] = prefix,
            ["IngestFleet:Embedder:ExecutionProvider"] = "cpu", ["IngestFleet:Embedder:IntraOpThreads"] = "2",
            ["IngestFleet:Embedder:VerifyGoldenPack"] = "false",
            ["IngestFleet:SourcePolicy:RequireAllowList"] = "false", // one tenant, the benchmark's own bucket: the explicit opt-out
        };
        foreach (var (k, v) in extra) settings[k] = v;
        return settings;
    }

    // ---- CPU time of processes ---------------------------------------------------------------------------------------

    /// <summary>CPU seconds so far of these processes, from /proc (user + system, in clock ticks of 1/100 s).</summary>
    public static double CpuSeconds(IEnumerable<int> pids) => pids.Sum(pid =>
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (long.Parse(f[11], CultureInfo.InvariantCulture) + long.Parse(f[12], CultureInfo.InvariantCulture)) / 100.0;
        }
        catch (IOException) { return 0; }
    });

    /// <summary>The processes whose command line contains <paramref name="needle"/>.</summary>
    public static List<int> Pids(string needle) => Directory.GetDirectories("/proc").Select(Path.GetFileName)
        .Where(d => d!.All(char.IsAsciiDigit)).Select(d => int.Parse(d!, CultureInfo.InvariantCulture))
        .Where(pid =>
        {
            try { return File.ReadAllText($"/proc/{pid}/cmdline").Contains(needle, StringComparison.Ordinal); }
            catch (IOException) { return false; }
            catch (UnauthorizedAccessException) { return false; }
        }).ToList();

    // ---- child processes and their peak RSS ----------------------------------------------------------------------------

    public static ProcessStartInfo Dotnet(string dll, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        return psi;
    }

    /// <summary>Runs a child to its end while sampling its VmHWM (peak resident set) from /proc every 100 ms.</summary>
    public static async Task<(string Stdout, long PeakRss)> RunChildAsync(ProcessStartInfo psi, Func<Process, Task>? whileRunning)
    {
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        long peak = 0;
        using var stop = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await foreach (var line in File.ReadLinesAsync($"/proc/{p.Id}/status"))
                        if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                            peak = Math.Max(peak, long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024);
                }
                catch (IOException) { }
                await Task.Delay(100);
            }
        });
        if (whileRunning is not null) await whileRunning(p);
        await p.WaitForExitAsync();
        await stop.CancelAsync();
        await sampler;
        if (p.ExitCode is not (0 or 2)) throw new InvalidOperationException($"{psi.ArgumentList[1]} exited {p.ExitCode}: {await stderr}");
        return (await stdout, peak);
    }
}
