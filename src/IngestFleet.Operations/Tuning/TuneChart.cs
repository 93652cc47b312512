using IngestFleet.Worker.Profiles;
using ScottPlot;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace IngestFleet.Operations.Tuning;

/// <summary>The chart.png of a tuning sweep.</summary>
public static class TuneChart
{
    /// <summary>Three stacked bar panels (images/s, p95, peak RSS) over the cells; the chosen cell in orange.</summary>
    public static void Write(IReadOnlyList<TuneCell> cells, TuneCell chosen, string revision, string ep, string path)
    {
        const int width = 1000, height = 330;
        var labels = cells.Select(c => $"t{c.Threads} b{c.Batch}").ToArray();
        var positions = Enumerable.Range(0, cells.Count).Select(i => (double)i).ToArray();
        var panels = new (string Title, string Unit, Func<TuneCell, double> Value)[]
        {
            ($"{revision} on {ep}: throughput", "images/s", c => c.ImagesPerSecond),
            ("p95 batch latency", "ms", c => c.P95Ms),
            ("peak RSS (decode, resize and inference)", "MiB", c => c.PeakRssBytes / 1048576.0),
        };
        using var canvas = new Image<Rgba32>(width, height * panels.Length);
        for (var k = 0; k < panels.Length; k++)
        {
            using var plot = new Plot();
            var bars = plot.Add.Bars(cells.Select(panels[k].Value).ToArray());
            for (var i = 0; i < cells.Count; i++)
                bars.Bars[i].FillColor = cells[i] == chosen ? Colors.Orange : Colors.SteelBlue;
            plot.Axes.Bottom.SetTicks(positions, labels);
            plot.Axes.Margins(bottom: 0);
            plot.Title(panels[k].Title);
            plot.YLabel(panels[k].Unit);
            using var panel = SixLabors.ImageSharp.Image.Load<Rgba32>(plot.GetImageBytes(width, height, ScottPlot.ImageFormat.Png));
            canvas.Mutate(x => x.DrawImage(panel, new SixLabors.ImageSharp.Point(0, k * height), 1f));
        }
        canvas.SaveAsPng(path);
    }
}
