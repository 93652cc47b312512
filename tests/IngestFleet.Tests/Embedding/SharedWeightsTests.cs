using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Models;
using IngestFleet.Embedding.Preprocessing;
using IngestFleet.Worker.Hosting;
using IngestFleet.Worker.Scheduling;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace IngestFleet.Tests.Embedding;

public sealed class SharedWeightsTests
{
    public static TheoryData<string> Models() => new(["clip", "siglip"]);

    private static ModelManifest Model(string name) => name == "clip" ? TestPaths.Clip : TestPaths.SigLip;

    [Theory]
    [MemberData(nameof(Models))]
    public void FindsEveryLargeFloatInitializer_AsAFullProtobufParseDoes(string name)
    {
        var manifest = Model(name);
        Onnx.ModelProto proto;
        using (var file = File.OpenRead(manifest.OnnxPath)) proto = Onnx.ModelProto.Parser.ParseFrom(file);
        var expected = proto.Graph.Initializer
            .Where(t => t.DataType == (int)Onnx.TensorProto.Types.DataType.Float && t.RawData.Length >= SharedWeights.MinSharedBytes
                        && t.RawData.Length == 4 * t.Dims.Aggregate(1L, (a, d) => a * d))
            .ToList();
        Assert.NotEmpty(expected);
        using var weights = SharedWeights.Load(manifest.OnnxPath);
        Assert.Equal(expected.Select(t => t.Name).Order(StringComparer.Ordinal), weights.Names.Order(StringComparer.Ordinal));
        Assert.Equal(expected.Sum(t => (long)t.RawData.Length), weights.Bytes);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void SessionsOverOneCopy_GiveTheVectorsOfASessionWithItsOwn(string name)
    {
        var manifest = Model(name);
        var options = new EmbedderOptions { ExecutionProvider = ExecutionProvider.Cpu, IntraOpThreads = 1 };
        var pre = new ImagePreprocessor(manifest.Preprocess);
        var photos = Directory.GetFiles(TestPaths.Photos, "*.jpg").Order(StringComparer.Ordinal).Take(4).ToArray();
        var pixels = new float[photos.Length * pre.TensorLength];
        for (var i = 0; i < photos.Length; i++)
            Assert.True(pre.Preprocess(File.ReadAllBytes(photos[i]), pixels.AsSpan(i * pre.TensorLength, pre.TensorLength)).Ok);

        using var own = Embedder.Load(manifest, options);
        var reference = own.Embed(pixels, photos.Length);
        using var weights = SharedWeights.Load(manifest.OnnxPath);
        // Both load with the golden-pack check on: a session that read the wrong weights would refuse to load.
        using var first = Embedder.Load(manifest, options, sharedWeights: weights);
        using var second = Embedder.Load(manifest, options, sharedWeights: weights);
        foreach (var e in new[] { first, second })
        {
            var got = e.Embed(pixels, photos.Length);
            for (var i = 0; i < photos.Length; i++)
                Assert.True(reference[i].Vector!.Zip(got[i].Vector!).Max(t => Math.Abs(t.First - t.Second)) < 1e-5f, $"{photos[i]} differs");
        }
    }

    [Fact]
    public void ADisposedCopy_CannotBeHandedToANewSession()
    {
        var weights = SharedWeights.Load(TestPaths.Clip.OnnxPath);
        weights.Dispose();
        Assert.Throws<ObjectDisposedException>(() =>
            Embedder.Load(TestPaths.Clip, new EmbedderOptions { ExecutionProvider = ExecutionProvider.Cpu }, sharedWeights: weights));
    }

    [Fact]
    public void ATruncatedModelFile_IsRefused_NotReadPastItsEnd()
    {
        var bytes = File.ReadAllBytes(TestPaths.Clip.OnnxPath);
        var cut = Path.Combine(Directory.CreateTempSubdirectory("ingestfleet-cut-").FullName, "model.onnx");
        File.WriteAllBytes(cut, bytes[..(bytes.Length / 2)]);
        Assert.Throws<InvalidDataException>(() => SharedWeights.Load(cut));
    }

    [Theory]
    [InlineData(new string[0], true)]             // every class: a low-priority second session, over the same weights
    [InlineData(new[] { "bulk" }, false)]         // one class: nothing to preempt, one session
    public void AWorkerServingSeveralClassesOnTheCpu_HoldsTheWeightsOnce(string[] consume, bool twoSessions)
    {
        var builder = Host.CreateApplicationBuilder();
        var settings = new Dictionary<string, string?> { ["IngestFleet:Embedder:ExecutionProvider"] = "cpu" };
        for (var i = 0; i < consume.Length; i++) settings[$"IngestFleet:Fleet:Consume:{i}"] = consume[i];
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddIngestFleetWorker(FleetTransport.InMemory, TestPaths.Clip, Directory.CreateTempSubdirectory("ingestfleet-sw-").FullName);
        using var host = builder.Build();
        var background = host.Services.GetRequiredService<BackgroundStagesHolder>();
        var weights = host.Services.GetRequiredService<SharedWeightsHolder>();
        Assert.Equal(twoSessions, background.Stages is { OwnSession: true });
        Assert.Equal(twoSessions, weights.Weights is { Count: > 0 });
    }
}
