using System.Diagnostics;
using IngestFleet.Embedding.Models;
using IngestFleet.ModelTools;
using IngestFleet.Embedding.Preprocessing;

namespace IngestFleet.Tests.Embedding;

/// <summary>Every file of tests/data/hostile (copied from shared/images/hostile) reaches its documented outcome.</summary>
/// <summary>Also measures working-set growth per file, so it runs with the other memory tests, alone.</summary>
[Collection(ProcessMemoryTestGroup.Name)]
public class HostileFilesTests
{
    public static Dictionary<string, string?> Expected => HostileExpectations.Expected;

    public static TheoryData<string> Files() => new(Expected.Keys);

    [Fact]
    public void EveryHostileFileHasAnExpectation()
    {
        var present = Directory.GetFiles(TestPaths.Hostile).Select(Path.GetFileName).Where(n => n != "README.md");
        Assert.Equal(Expected.Keys.Order(), present.Order()!);
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void HostileFile_ReachesItsExpectedOutcome_WithBoundedWorkAndMemory(string file)
    {
        var p = new ImagePreprocessor(PreprocessContracts.Clip(224));
        var bytes = File.ReadAllBytes(Path.Combine(TestPaths.Hostile, file));
        var tensor = new float[p.TensorLength];
        var before = Process.GetCurrentProcess().WorkingSet64;
        var watch = Stopwatch.StartNew();
        var outcome = p.Preprocess(bytes, tensor);
        watch.Stop();
        var grown = Process.GetCurrentProcess().WorkingSet64 - before;

        Assert.Equal(Expected[file], outcome.Reason);
        Assert.Equal(Expected[file] is null, outcome.Ok);
        if (!outcome.Ok) Assert.False(string.IsNullOrWhiteSpace(outcome.Detail));
        else Assert.All(tensor, v => Assert.True(float.IsFinite(v)));
        // A bound on unbounded work, not a speed test: a zTXt bomb decoded with the default settings took 19.8 s; every
        // file here takes well under 1 s, so a machine two or three times slower under load still passes.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"{file} took {watch.Elapsed.TotalMilliseconds:0} ms");
        Assert.True(grown < 300L * 1024 * 1024, $"{file} grew the working set by {grown / 1e6:0} MB");
    }

    [Fact]
    public void CmykJpeg_IsConvertedToRgbColours()
    {
        var p = new ImagePreprocessor(PreprocessContracts.SigLip(224));
        var tensor = new float[p.TensorLength];
        Assert.True(p.Preprocess(File.ReadAllBytes(Path.Combine(TestPaths.Hostile, "valid-cmyk.jpg")), tensor).Ok);
        // A CMYK file read as if it were RGB would be near-inverted; converted, its channels stay in range and vary.
        var plane = 224 * 224;
        Assert.True(tensor.AsSpan(0, plane).ToArray().Distinct().Count() > 50);
        Assert.All(tensor, v => Assert.InRange(v, -1f, 1f));
    }
}
