using IngestFleet.Operations.Tuning;
using System.CommandLine;
using IngestFleet.Embedding;
using IngestFleet.Worker.Scheduling;
using IngestFleet.Embedding.Diagnostics;
using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Models;
using IngestFleet.Embedding.Preprocessing;
using IngestFleet.Worker.Profiles;
using ScottPlot;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using Spectre.Console;
using IngestFleet.Worker.Hosting;
using IngestFleet.Messaging.Publishing;
using IngestFleet.Messaging.Broker;
using IngestFleet.Messaging;

namespace IngestFleet.Cli.Commands;

/// <summary>
/// <c>ingestfleet tune</c>: the thread × batch sweep over the real preprocess + embed path on real images, the
/// documented selection rule (<see cref="TuneSelection"/>), a table, profile.json and chart.png.
/// </summary>
internal static class TuneCommand
{

    public static Command Build()
    {
        var model = CommonOptions.Model();
        var ep = CommonOptions.Ep();
        var threads = new Option<string?>("--threads") { Description = "Intra-op thread counts to sweep, e.g. 4,2,1 (default: performance cores, halving down to 1)" };
        var batches = new Option<string>("--batches") { Description = "Batch sizes to sweep", DefaultValueFactory = _ => "1,8,16,32" };
        var images = new Option<string?>("--images") { Description = "Folder of real images to run (default: the repository's tests/data/photos when run inside it)" };
        var seconds = new Option<double>("--seconds")
        {
            Description = "Measured time per cell, as seconds or a duration (5, 5s, 2m; at least 3 batches run)",
            DefaultValueFactory = _ => 5,
            CustomParser = r =>
            {
                var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "5";
                if (double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var s)) return s;
                if (IngestFleet.ServiceDefaults.Durations.TryParse(text, out var d)) return d.TotalSeconds;
                r.AddError($"--seconds {text}: use a number of seconds or a duration such as 5s or 2m");
                return 0;
            },
        };
        var outDir = new Option<string>("--out") { Description = "Folder for profile.json and chart.png", DefaultValueFactory = _ => "tune-out" };
        var tolerance = new Option<double>("--tolerance") { Description = "Throughput a thread step down may lose and still be taken", DefaultValueFactory = _ => 0.05 };
        var budget = new Option<double?>("--p95-budget-ms") { Description = "Latency budget: only batches whose p95 meets it are candidates" };
        var roundTrip = new Option<double>("--round-trip-ms")
        {
            Description = "Network round trip from this node to its broker and bucket (ping them); sets the batches in flight that hide it (0: next to them)",
            DefaultValueFactory = _ => 0,
        };
        var cmd = new Command("tune", "Sweep intra-op threads × batch size on real images; pick a profile by the documented rule; write profile.json and chart.png")
        {
            model, ep, threads, batches, images, seconds, outDir, tolerance, budget, roundTrip,
        };
        cmd.SetAction((p, ct) => CliErrors.Guard(() => Task.FromResult(Run(
            p.GetValue(model), p.GetValue(ep), p.GetValue(threads), p.GetValue(batches)!, p.GetValue(images), p.GetValue(seconds),
            p.GetValue(outDir)!, p.GetValue(tolerance), p.GetValue(budget), p.GetValue(roundTrip), ct))));
        return cmd;
    }

    private static int[] ParseList(string? text, string option, int[] fallback)
    {
        if (string.IsNullOrWhiteSpace(text)) return fallback;
        var values = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!int.TryParse(part, out var v) || v < 1 || v > 512)
                throw new CliInputException($"{option} {text}: '{part}' is not a whole number from 1 to 512. Example: {option} 4,2,1", ExitCodes.Usage);
            values.Add(v);
        }
        return values.Distinct().ToArray();
    }

    private static int Run(string? modelPath, ExecutionProvider ep, string? threadsText, string batchesText, string? imagesDir, double seconds, string outDir,
        double tolerance, double? budget, double roundTripMs, CancellationToken ct)
    {
        if (roundTripMs is < 0 or > 10_000) throw new CliInputException($"--round-trip-ms {roundTripMs}: use 0 to 10000 (milliseconds).", ExitCodes.Usage);
        if (seconds is <= 0 or > 3600) throw new CliInputException($"--seconds {seconds}: use a value above 0 and at most 3600.", ExitCodes.Usage);
        if (tolerance is < 0 or >= 1) throw new CliInputException($"--tolerance {tolerance}: use a fraction from 0 to below 1, e.g. 0.05.", ExitCodes.Usage);
        var manifest = ModelLocator.Load(modelPath);
        var perfCores = MachineProbe.PerformanceCores();
        var defaultThreads = new List<int>();
        for (var t = perfCores; t >= 1; t /= 2) defaultThreads.Add(t);
        if (defaultThreads[^1] != 1) defaultThreads.Add(1);
        var threadList = ParseList(threadsText, "--threads", defaultThreads.ToArray()).OrderDescending().ToArray();
        var batchList = ParseList(batchesText, "--batches", [1, 8, 16, 32]).Order().ToArray();

        var dir = imagesDir ?? FindSamplePhotos()
            ?? throw new CliInputException("no --images folder given and no tests/data/photos above the current folder. Pass --images DIR with real catalog images.", ExitCodes.Usage);
        if (!Directory.Exists(dir)) throw new CliInputException($"--images {dir}: no such folder.", ExitCodes.Usage);
        var (usable, skipped) = TuneSweep.LoadImages(dir, manifest);
        if (usable.Count == 0)
            throw new CliInputException($"--images {dir}: no usable image ({string.Join(", ", skipped.DefaultIfEmpty("no image files"))}). Point it at real JPEG/PNG/WebP photos.", ExitCodes.BadInput);
        Console.WriteLine($"tune: model {manifest.Revision}, EP {ep.Name()}, threads [{string.Join(",", threadList)}] × batches [{string.Join(",", batchList)}], {seconds:G} s per cell, " +
            $"{usable.Count} images from {dir}{(skipped.Count > 0 ? $" ({skipped.Count} skipped: {string.Join(", ", skipped)})" : "")}; performance cores {perfCores}");

        var result = TuneSweep.Run(new TuneRequest(manifest, ep, threadList, batchList, usable, seconds, tolerance, budget, perfCores, roundTripMs), c =>
            Console.WriteLine($"  threads {c.Threads,2} batch {c.Batch,3}: {c.ImagesPerSecond,7:0.0} img/s  p95 {c.P95Ms,8:0.0} ms  peak RSS {c.PeakRssBytes / 1048576.0,6:0} MiB"), ct);
        var (cells, choice, profile, resolvedEp) = (result.Cells, result.Choice, result.Profile, result.ExecutionProvider);

        var table = new Table().AddColumns("thr", "batch", "img/s", "p50 ms", "p95 ms", "p99 ms", "RSS dec MiB", "RSS inf MiB", "swapped out MiB", "");
        foreach (var c in cells)
            table.AddRow($"{c.Threads}", $"{c.Batch}", $"{c.ImagesPerSecond:0.0}", $"{c.P50Ms:0.0}", $"{c.P95Ms:0.0}", $"{c.P99Ms:0.0}",
                $"{c.PeakRssDecodeBytes / 1048576.0:0}", $"{c.PeakRssInferenceBytes / 1048576.0:0}",
                c.SwapBytes < 0 ? "?" : $"{c.SwapBytes / 1048576.0:0}", c == choice.Cell ? "chosen" : "");
        AnsiConsole.Write(table);
        foreach (var step in choice.Steps) Console.WriteLine($"  rule: {step}");
        if (cells.Any(c => c.SwapBytes > 0))
            Console.WriteLine($"  warning: the kernel swapped out memory during the sweep (up to {cells.Max(c => c.SwapBytes) / 1048576.0:0} MiB in a cell): latencies include paging; free memory or lower the batch");

        Directory.CreateDirectory(outDir);
        var profilePath = Path.Combine(outDir, "profile.json");
        File.WriteAllText(profilePath, profile.ToJson());
        var chartPath = Path.Combine(outDir, "chart.png");
        TuneChart.Write(cells, choice.Cell, manifest.Revision, resolvedEp.Name(), chartPath);
        Console.WriteLine($"wrote {profilePath} (threads {profile.IntraOpThreads}, batch {profile.Batch}, {profile.BatchesInFlight} in flight) and {chartPath}");
        Console.WriteLine($"use it: ingestfleet worker --profile {profilePath}");
        return ExitCodes.Ok;
    }

    internal static string? FindSamplePhotos()
    {
        for (var d = new DirectoryInfo(Directory.GetCurrentDirectory()); d is not null; d = d.Parent)
        {
            var candidate = Path.Combine(d.FullName, "tests", "data", "photos");
            if (Directory.Exists(candidate)) return candidate;
        }
        return null;
    }
}
