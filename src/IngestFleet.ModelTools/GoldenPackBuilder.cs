using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Models;
using Microsoft.ML.OnnxRuntime;

namespace IngestFleet.ModelTools;

/// <summary>Makes golden packs (model tooling): the runtime only reads and checks them (<see cref="GoldenPack"/>).</summary>
public static class GoldenPackBuilder
{
    /// <summary>Makes seeded inputs in the normalised-pixel range and records raw CPU-EP outputs for them.</summary>
    public static GoldenPack Create(ModelManifest m, int count, ulong seed)
    {
        var size = m.Preprocess.Size;
        var rng = new SeededRandom(seed);
        var inputs = rng.Normal(count * 3 * size * size, 1.0);
        _ = OrtRuntime.Env; // the logging environment must exist before any SessionOptions
        using var so = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1 };
        using var session = new InferenceSession(m.OnnxPath, so);
        var shape = new long[] { count, 3, size, size };
        using var input = OrtValue.CreateTensorValueFromMemory(inputs, shape);
        using var run = new RunOptions();
        using var results = session.Run(run, [m.Input.Name], [input], [m.Output.Name]);
        var outputs = results[0].GetTensorDataAsSpan<float>().ToArray();
        return new GoldenPack
        {
            Count = count, InputShape = shape, OutputShape = [count, outputs.Length / count],
            Inputs = inputs, Outputs = outputs, OrtVersion = OrtRuntime.Version, Revision = m.Revision,
        };
    }
}
