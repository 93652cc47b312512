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
    public async Task ABlockingYieldPoint_PausesTheDecodeInsideLibvips_UntilReleased()
    {
        var jpeg = await File.ReadAllBytesAsync(Path.Combine(TestPaths.Photos, "catalog-coffee-2048.jpg"));
        var expected = VipsJpegPath.TryThumbnail(jpeg, 224, squash: false);
        using var paused = new ManualResetEventSlim();
        using var resume = new ManualResetEventSlim();
        var calls = 0;
        var decode = Task.Factory.StartNew(() => VipsJpegPath.TryThumbnail(jpeg, 224, squash: false, () =>
        {
            if (Interlocked.Increment(ref calls) != 20) return; // well inside the scan data
            paused.Set();
            resume.Wait();
        }), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        Assert.True(paused.Wait(TimeSpan.FromSeconds(30)), "the decode never reached its 20th read");
        var before = Volatile.Read(ref calls);
        await Task.Delay(200);
        Assert.False(decode.IsCompleted);
        Assert.Equal(before, Volatile.Read(ref calls)); // nothing read while paused
        resume.Set();
        var pixels = await decode.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(expected, pixels);
        Assert.True(calls > 20);
    }

    private sealed class SwitchGate : IStageGate
    {
        public volatile bool Yield;
        public ValueTask<IDisposable> EnterAsync(int units, CancellationToken cancellationToken) => throw new NotSupportedException();
        public ValueTask WaitForTurnAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;
        public bool MustYield() => Yield;
    }

    private static Task RunYield(Action yieldPoint) =>
        Task.Factory.StartNew(yieldPoint, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    [Fact]
    public async Task TheYieldPoint_PausesWhileTheGateSaysSo_AndGoesOnWhenItStops()
    {
        var gate = new SwitchGate { Yield = true };
        var paused = RunYield(DecodeYield.For(gate, () => false, TimeSpan.FromMinutes(5), CancellationToken.None));
        await Task.Delay(200);
        Assert.False(paused.IsCompleted);
        gate.Yield = false;
        await paused.WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task TheYieldPoint_GoesOn_WhenTheBudgetIsWanted_OnCancellation_AndPastItsAllowance()
    {
        var gate = new SwitchGate { Yield = true }; // the gate says pause throughout
        var budgetWanted = false;
        var paused = RunYield(DecodeYield.For(gate, () => Volatile.Read(ref budgetWanted), TimeSpan.FromMinutes(5), CancellationToken.None));
        await Task.Delay(100);
        Assert.False(paused.IsCompleted);
        Volatile.Write(ref budgetWanted, true); // someone waits for the decode budget this decode holds a share of
        await paused.WaitAsync(TimeSpan.FromSeconds(30));

        using var cancel = new CancellationTokenSource();
        paused = RunYield(DecodeYield.For(gate, () => false, TimeSpan.FromMinutes(5), cancel.Token));
        await Task.Delay(100);
        Assert.False(paused.IsCompleted);
        await cancel.CancelAsync();
        await paused.WaitAsync(TimeSpan.FromSeconds(30));

        // An allowance of 50 ms, spent over several yield points of the same decode: each returns while the gate still says pause.
        var yieldPoint = DecodeYield.For(gate, () => false, TimeSpan.FromMilliseconds(50), CancellationToken.None);
        for (var i = 0; i < 3; i++) await RunYield(yieldPoint).WaitAsync(TimeSpan.FromSeconds(30));
    }
}
