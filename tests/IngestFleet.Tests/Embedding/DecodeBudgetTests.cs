using IngestFleet.Embedding.Preprocessing;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace IngestFleet.Tests.Embedding;

/// <summary>The process-wide decode budget (issue 21, point 4): peak pixels in decode are bounded by the budget, not by
/// how many threads decode at once.</summary>
public sealed class DecodeBudgetTests
{
    private static byte[] Png(int width, int height)
    {
        using var image = new Image<Rgb24>(width, height, new Rgb24(120, 30, 200));
        using var stream = new MemoryStream();
        image.SaveAsPng(stream);
        return stream.ToArray();
    }

    [Fact]
    public void SixteenLargePngsOnSixteenThreads_DecodeWithinTheBudget_AndAllAreAccepted()
    {
        // 16 images of 4 megapixels, a budget of 8.2 megapixels: at most two decode at once, whatever the thread count.
        var png = Png(2000, 2000);
        var p = new ImagePreprocessor(PreprocessContracts.Clip(224), new ImageLimits { DecodeBudgetPixels = 8_200_000 });
        var outcomes = new PreprocessOutcome[16];
        using var start = new Barrier(16);
        var threads = Enumerable.Range(0, 16).Select(i => new Thread(() =>
        {
            var tensor = new float[p.TensorLength];
            start.SignalAndWait();
            outcomes[i] = p.Preprocess(png, tensor);
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        Assert.All(outcomes, o => Assert.True(o.Ok, o.Detail));
        Assert.InRange(p.Budget.PeakPixels, 2000L * 2000, p.Budget.Pixels);
        Assert.True(p.Budget.PeakPixels < 3L * 2000 * 2000, $"peak {p.Budget.PeakPixels} pixels: three images decoded at once");
    }

    [Fact]
    public void AnImageLargerThanTheWholeBudget_StillDecodes_Alone()
    {
        var p = new ImagePreprocessor(PreprocessContracts.Clip(224), new ImageLimits { DecodeBudgetPixels = 1_000_000 });
        var outcome = p.Preprocess(Png(1500, 1500), new float[p.TensorLength]);
        Assert.True(outcome.Ok, outcome.Detail);
        Assert.Equal(p.Budget.Pixels, p.Budget.PeakPixels); // it held the whole budget, no more
    }

    [Fact]
    public async Task ADecodeThatDoesNotFit_WaitsUntilTheBudgetIsReleased()
    {
        var budget = new DecodeBudget(10_240_000);
        var first = budget.Enter(3000, 3000); // 9 megapixels of 10
        var second = Task.Run(() => budget.Enter(1000, 2000));
        var waited = await Task.WhenAny(second, Task.Delay(300));
        Assert.NotSame(second, waited); // 2 more do not fit while the first holds its share
        first.Dispose();
        (await second.WaitAsync(TimeSpan.FromSeconds(30))).Dispose();
        Assert.True(budget.PeakPixels <= budget.Pixels);
    }
}
