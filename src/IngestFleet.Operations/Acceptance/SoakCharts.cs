using System.Globalization;
using System.Net;
using System.Text;
using ScottPlot;

namespace IngestFleet.Operations.Acceptance;

/// <summary>The soak's charts (PNG) and one self-contained HTML page with all of them and the figures behind them.</summary>
public static class SoakCharts
{
    private const int Width = 900, Height = 320;

    /// <summary>Writes the PNGs and soak.html into <paramref name="dir"/>; returns the chart file names.</summary>
    public static IReadOnlyList<string> Write(SoakReport r, string dir)
    {
        Directory.CreateDirectory(dir);
        var charts = new List<(string File, string Title)>();
        void Save(string file, string title, Plot plot)
        {
            plot.Title(title);
            plot.SavePng(Path.Combine(dir, file), Width, Height);
            charts.Add((file, title));
        }
        double[] mids = r.Windows.Select(w => (w.StartSeconds + w.EndSeconds) / 2 / 60).ToArray();

        using (var p = new Plot())
        {
            p.Add.Scatter(mids, r.Windows.Select(w => w.ImagesPerHour).ToArray());
            p.XLabel("minutes"); p.YLabel("images per hour");
            Save("images-per-hour.png", "Images per hour", p);
        }
        using (var p = new Plot())
        {
            var reasons = r.Totals.ErrorsByReason.OrderByDescending(kv => kv.Value).ToList();
            if (reasons.Count > 0)
            {
                p.Add.Bars(reasons.Select(kv => (double)kv.Value).ToArray());
                p.Axes.Bottom.SetTicks(Enumerable.Range(0, reasons.Count).Select(i => (double)i).ToArray(), reasons.Select(kv => kv.Key).ToArray());
            }
            p.YLabel("dead letters");
            Save("errors-by-reason.png", reasons.Count > 0 ? "Errors by reason" : "Errors by reason (none)", p);
        }
        using (var p = new Plot())
        {
            foreach (var cls in r.LatencyP95SecondsByClass.Keys.Order(StringComparer.Ordinal))
            {
                var line = p.Add.Scatter(mids, r.Windows.Select(w => w.P95SecondsByClass.TryGetValue(cls, out var v) && !double.IsNaN(v) ? v : double.NaN).ToArray());
                line.LegendText = cls;
            }
            p.ShowLegend(); p.XLabel("minutes"); p.YLabel("publish → vector p95 (s)");
            Save("p95-by-class.png", "p95 per priority class per window", p);
        }
        using (var p = new Plot())
        {
            foreach (var step in new[] { "decode", "inference", "batch" })
            {
                var samples = r.Rss.Where(s => s.Step == step).ToList();
                var line = p.Add.Scatter(samples.Select(s => s.At / 60).ToArray(), samples.Select(s => s.Bytes / 1048576.0).ToArray());
                line.LegendText = step;
            }
            p.ShowLegend(); p.XLabel("minutes"); p.YLabel("peak RSS (MiB)");
            Save("rss-per-batch-step.png", "Peak RSS per batch step", p);
        }
        using (var p = new Plot())
        {
            p.Add.Scatter(r.Swap.Select(s => s.At / 60).ToArray(), r.Swap.Select(s => Math.Max(0, s.Value) / 1048576.0).ToArray());
            p.XLabel("minutes"); p.YLabel("swapped out per sample (MiB)");
            Save("swap.png", r.SwapVerdict.Sustained ? "Swap (SUSTAINED)" : "Swap", p);
        }
        using (var p = new Plot())
        {
            p.Add.Bars(new[] { (double)r.UnexplainedFallbacks });
            p.Axes.Bottom.SetTicks([0], [r.Serving.ExecutionProvider]);
            p.YLabel("nodes");
            Save("unexplained-fallbacks.png", $"Unexplained fallbacks: {r.UnexplainedFallbacks}", p);
        }

        var html = new StringBuilder();
        html.Append(HtmlReport.Head($"Soak {r.Node.Id} · {r.Serving.ModelRevision} on {r.Serving.ExecutionProvider}"));
        html.Append(HtmlReport.Table(["", ""],
        [
            ["node", $"{r.Node.Id} ({r.Node.Host}, {r.Node.Os}, {r.Node.Arch}, {r.Node.LogicalCores} cores)"],
            ["run", $"{r.StartedAt:u} → {r.EndedAt:u}, {r.RanSeconds:0} s of {r.PlannedSeconds:0} s planned{(r.Completed ? "" : " (stopped early: partial)")}, curve {r.Curve}, {r.Mode}"],
            ["serving", $"batch {r.Serving.Batch}, intra-op threads {r.Serving.IntraOpThreads}, inter-op {r.Serving.InterOpThreads}"],
            ["totals", $"{r.Totals.Published} published, {r.Totals.Embedded} embedded, {r.Totals.DeadLettered} dead-lettered in {r.Totals.Batches} batches"],
            ["batch p95 (ms) by size", string.Join(", ", r.BatchP95MsBySize.Select(kv => $"{kv.Key}: {kv.Value:0.0}"))],
            ["publish → vector p95 (s)", string.Join(", ", r.LatencyP95SecondsByClass.Select(kv => $"{kv.Key}: {kv.Value:0.000}"))],
            ["paging", $"at most {r.SwapVerdict.MaxBytes >> 10} KiB swapped out per sample, longest run above {r.SwapVerdict.ThresholdBytes >> 20} MiB {r.SwapVerdict.LongestSeconds:0} s (sustained from {r.SwapVerdict.MinSeconds:0} s): {(r.SwapVerdict.Sustained ? "SUSTAINED" : "not sustained")}"],
            ["unexplained fallbacks", r.UnexplainedFallbacks.ToString(CultureInfo.InvariantCulture)],
        ]));
        foreach (var (file, title) in charts)
            html.Append(CultureInfo.InvariantCulture, $"<h2>{WebUtility.HtmlEncode(title)}</h2><img alt=\"{WebUtility.HtmlEncode(title)}\" src=\"data:image/png;base64,{Convert.ToBase64String(File.ReadAllBytes(Path.Combine(dir, file)))}\">\n");
        html.Append(HtmlReport.Table(["window (s)", "images", "images/hour", "errors", "p95 by class (s)", "peak RSS (MiB)"],
            r.Windows.Select(w => new[]
            {
                $"{w.StartSeconds:0}–{w.EndSeconds:0}", w.Images.ToString(CultureInfo.InvariantCulture), $"{w.ImagesPerHour:0}",
                string.Join(", ", w.Errors.Select(kv => $"{kv.Key} {kv.Value}")), string.Join(", ", w.P95SecondsByClass.Select(kv => $"{kv.Key} {kv.Value:0.000}")),
                $"{w.PeakRssBytes / 1048576.0:0}",
            }).ToList()));
        html.Append(HtmlReport.Tail);
        File.WriteAllText(Path.Combine(dir, "soak.html"), html.ToString());
        return charts.Select(c => c.File).ToList();
    }
}
