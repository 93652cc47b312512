using IngestFleet.Embedding;
using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Models;
using IngestFleet.Embedding.Preprocessing;
using Xunit.Abstractions;

namespace IngestFleet.Tests.Embedding;

/// <summary>The libvips shrink-on-load JPEG path against today's full ImageSharp decode: the same vectors (cosine ≥ 0.999
/// on every photo, both model families), a contract hash that says which path made them.</summary>
public sealed class DecodePathTests(ITestOutputHelper output)
{
    public static TheoryData<string> Families => new() { "clip", "siglip" };

    [Fact]
    public void Libvips_LoadsOnThisPlatform_AndIsTheDefault()
    {
        var p = new ImagePreprocessor(TestPaths.Clip.Preprocess);
        Assert.Equal("libvips", p.JpegDecoder);
        Assert.Null(p.DecoderNote);
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void TheFastPath_GivesTheSameVectorsAsTheFullDecode(string family)
    {
        var manifest = family == "clip" ? TestPaths.Clip : TestPaths.SigLip;
        using var embedder = Embedder.Load(manifest, new EmbedderOptions { ExecutionProvider = ExecutionProvider.Cpu, IntraOpThreads = 2 });
        var fast = new ImagePreprocessor(manifest.Preprocess, new ImageLimits { JpegDecoder = "libvips" });
        var full = new ImagePreprocessor(manifest.Preprocess, new ImageLimits { JpegDecoder = "imagesharp" });
        var photos = Directory.GetFiles(TestPaths.Photos, "*.jpg").Order(StringComparer.Ordinal).ToArray();
        Assert.True(photos.Length >= 8);
        var worst = 1.0;
        foreach (var photo in photos)
        {
            var bytes = File.ReadAllBytes(photo);
            var a = new float[fast.TensorLength];
            var b = new float[full.TensorLength];
            Assert.True(fast.Preprocess(bytes, a).Ok);
            Assert.True(full.Preprocess(bytes, b).Ok);
            var va = embedder.Embed(a, 1)[0].Vector!;
            var vb = embedder.Embed(b, 1)[0].Vector!;
            var cos = VectorMath.Cosine(va, vb);
            output.WriteLine($"{family} {Path.GetFileName(photo)}: cosine {cos:0.000000}");
            worst = Math.Min(worst, cos);
        }
        Assert.Equal(photos.Length, fast.JpegCounts.Vips);
        Assert.Equal(0, fast.JpegCounts.Fallbacks);
        Assert.True(worst >= 0.999, $"worst cosine {worst}");
    }

    [Fact]
    public void TheContractHash_NamesTheDecodePath_AndTheImageSharpPathKeepsTheManifestHash()
    {
        var contract = TestPaths.Clip.Preprocess;
        var fast = new ImagePreprocessor(contract, new ImageLimits { JpegDecoder = "libvips" });
        var full = new ImagePreprocessor(contract, new ImageLimits { JpegDecoder = "imagesharp" });
        Assert.Equal(contract.ContractHash(), full.ContractHash);
        Assert.NotEqual(full.ContractHash, fast.ContractHash);
        Assert.Equal(contract.ContractHash("libvips"), fast.ContractHash);
    }

    [Fact]
    public void AJpegLibvipsCannotRead_TakesTheImageSharpPath_AndGetsItsReasonCode()
    {
        // Valid header and end marker, garbage scan data: passes the header checks, then fails to decode.
        var photo = File.ReadAllBytes(Path.Combine(TestPaths.Photos, "astronaut.jpg"));
        var sos = photo.AsSpan().LastIndexOf([(byte)0xFF, (byte)0xDA]);
        var broken = (byte[])photo.Clone();
        System.Security.Cryptography.RandomNumberGenerator.Fill(broken.AsSpan(sos + 20, 4000));
        for (var i = sos + 20; i < sos + 4020; i++) if (broken[i] == 0xFF) broken[i] = 0x00; // no stray markers
        var p = new ImagePreprocessor(TestPaths.Clip.Preprocess, new ImageLimits { JpegDecoder = "libvips" });
        var outcome = p.Preprocess(broken, new float[p.TensorLength]);
        output.WriteLine($"{outcome.Reason}: {outcome.Detail}; vips {p.JpegCounts.Vips}, fallbacks {p.JpegCounts.Fallbacks}");
        Assert.Equal(1, p.JpegCounts.Vips + p.JpegCounts.Fallbacks);
        if (!outcome.Ok) Assert.Equal(1, p.JpegCounts.Fallbacks);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AYieldingDecode_GivesTheSameBytes_AndYieldsOnLibvipsWorkerThreadsThroughoutTheDecode(bool squash)
    {
        var caller = Environment.CurrentManagedThreadId;
        foreach (var photo in Directory.GetFiles(TestPaths.Photos, "catalog-*-2048.jpg").Order(StringComparer.Ordinal))
        {
            var jpeg = File.ReadAllBytes(photo);
            var plain = VipsJpegPath.TryThumbnail(jpeg, 224, squash);
            int calls = 0, elsewhere = 0;
            var yielding = VipsJpegPath.TryThumbnail(jpeg, 224, squash, () =>
            {
                Interlocked.Increment(ref calls);
                if (Environment.CurrentManagedThreadId != caller) Interlocked.Increment(ref elsewhere);
            });
            output.WriteLine($"{Path.GetFileName(photo)}: {jpeg.Length} bytes, {calls} yield points, {elsewhere} on other threads");
            Assert.NotNull(plain);
            Assert.Equal(plain, yielding);
            // libvips' JPEG source reads 4 KiB at a time as the decoder consumes it (jpeg2vips.c, SOURCE_BUFFER_SIZE)
            Assert.True(calls >= jpeg.Length / 4096, $"{calls} yield points for {jpeg.Length} bytes");
            Assert.True(elsewhere >= jpeg.Length / 8192, $"only {elsewhere} yield points on libvips' worker threads");
        }
    }

    [Fact]
    public void AYieldPoint_PausesTheLibvipsDecodeAtTheReadItIsCalledFor_AndTheDecodeGoesOnAfterIt()
    {
        var jpeg = File.ReadAllBytes(Path.Combine(TestPaths.Photos, "catalog-coffee-2048.jpg"));
        var expected = VipsJpegPath.TryThumbnail(jpeg, 224, squash: false);
        // The gate says "pause" for five checks at the 20th read (well inside the scan data), on a fake clock.
        var reads = 0;
        var log = new List<string>();
        var gate = new CountingGate(() => reads == 20, times: 5);
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var yieldPoint = DecodeYield.For(gate, () => false, TimeSpan.FromSeconds(1), CancellationToken.None, time, slice =>
        {
            lock (log) log.Add($"sleep at read {reads}");
            time.Advance(slice);
        });
        var pixels = VipsJpegPath.TryThumbnail(jpeg, 224, squash: false, () =>
        {
            lock (log) log.Add($"read {Interlocked.Increment(ref reads)}");
            yieldPoint();
        });
        Assert.Equal(expected, pixels);
        // The five sleeps come right after the 20th read's call, before the 21st read: the decode waited there.
        var at = log.IndexOf("read 20");
        Assert.Equal(Enumerable.Repeat("sleep at read 20", 5), log.Skip(at + 1).Take(5));
        Assert.Equal("read 21", log[at + 6]);
        Assert.Equal(5, log.Count(l => l.StartsWith("sleep", StringComparison.Ordinal)));
        Assert.True(reads > 21);
    }

    /// <summary>Says "pause" while <c>when</c> holds, for at most <c>times</c> checks.</summary>
    private sealed class CountingGate(Func<bool> when, int times) : IStageGate
    {
        private int _left = times;
        public ValueTask<IDisposable> EnterAsync(int units, CancellationToken cancellationToken) => throw new NotSupportedException();
        public ValueTask WaitForTurnAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;
        public bool MustYield() => when() && Interlocked.Decrement(ref _left) >= 0;
    }

    /// <summary>A yield point on a fake clock whose sleeps advance it by the slice asked for and are recorded.</summary>
    private static (Action Yield, Func<int> Sleeps, List<TimeSpan> Slices) FakeYield(IStageGate gate, Func<bool> budgetWanted, TimeSpan allowance,
        CancellationToken cancellationToken, Action? onSleep = null)
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var slices = new List<TimeSpan>();
        var yieldPoint = DecodeYield.For(gate, budgetWanted, allowance, cancellationToken, time, slice =>
        {
            slices.Add(slice);
            time.Advance(slice);
            onSleep?.Invoke();
        });
        return (yieldPoint, () => slices.Count, slices);
    }

    [Fact]
    public void TheYieldPoint_SleepsWhileTheGateSaysPause_AndNotOnceItStops()
    {
        var (yieldPoint, sleeps, _) = FakeYield(new CountingGate(() => true, times: 3), () => false, TimeSpan.FromMinutes(5), CancellationToken.None);
        yieldPoint();
        Assert.Equal(3, sleeps());
        yieldPoint();
        Assert.Equal(3, sleeps());
    }

    [Fact]
    public void TheYieldPoint_GoesOn_WhenTheBudgetIsWanted()
    {
        var budgetWanted = false;
        var (yieldPoint, sleeps, _) = FakeYield(new CountingGate(() => true, int.MaxValue), () => budgetWanted, TimeSpan.FromMinutes(5), CancellationToken.None,
            onSleep: () => budgetWanted = true); // someone starts waiting for the budget during the first sleep
        yieldPoint();
        Assert.Equal(1, sleeps());
        (yieldPoint, sleeps, _) = FakeYield(new CountingGate(() => true, int.MaxValue), () => true, TimeSpan.FromMinutes(5), CancellationToken.None);
        yieldPoint();
        Assert.Equal(0, sleeps());
    }

    [Fact]
    public void TheYieldPoint_GoesOn_WhenTheBatchIsCancelled()
    {
        using var cancel = new CancellationTokenSource();
        var count = 0;
        var (yieldPoint, sleeps, _) = FakeYield(new CountingGate(() => true, int.MaxValue), () => false, TimeSpan.FromMinutes(5), cancel.Token,
            onSleep: () => { if (++count == 4) cancel.Cancel(); });
        yieldPoint();
        Assert.Equal(4, sleeps());
    }

    [Fact]
    public void TheYieldPoint_PausesAtMostItsAllowance_OverAllOfOneDecodesReads()
    {
        // A 50-ms allowance on the fake clock: the sleeps stop at the first one that reaches it, and none follow at later
        // reads of the same decode, though the gate still says pause.
        var allowance = TimeSpan.FromMilliseconds(50);
        var (yieldPoint, sleeps, slices) = FakeYield(new CountingGate(() => true, int.MaxValue), () => false, allowance, CancellationToken.None);
        yieldPoint();
        var paused = slices.Aggregate(TimeSpan.Zero, (sum, slice) => sum + slice);
        Assert.True(slices.Count > 1);
        Assert.True(paused >= allowance, $"paused {paused}");
        Assert.True(paused - slices[^1] < allowance, $"paused {paused}, the last slice {slices[^1]}");
        var before = sleeps();
        yieldPoint();
        yieldPoint();
        Assert.Equal(before, sleeps());
    }
}
