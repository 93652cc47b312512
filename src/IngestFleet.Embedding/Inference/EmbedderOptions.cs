using System.ComponentModel.DataAnnotations;

namespace IngestFleet.Embedding.Inference;

/// <summary>How a model revision is served. Bound from configuration section <c>IngestFleet:Embedder</c>.</summary>
public sealed class EmbedderOptions
{
    public const string SectionName = "IngestFleet:Embedder";

    /// <summary><c>auto</c> (Core ML on macOS, else CUDA when present, else CPU; the choice is logged), <c>coreml</c>,
    /// <c>cuda</c> or <c>cpu</c>. Asking for an EP this build or machine lacks is an error, never a silent fallback.</summary>
    /// <value>Default <c>auto</c>.</value>
    [EnumDataType(typeof(ExecutionProvider))]
    public ExecutionProvider ExecutionProvider { get; set; } = ExecutionProvider.Auto;

    /// <summary>Intra-op threads (0 = one per logical core). Explicit caps keep decode threads from being starved.</summary>
    /// <value>Default 0.</value>
    [Range(0, 256)] public int IntraOpThreads { get; set; }

    /// <value>Default 1 (the graphs are sequential; more inter-op threads only add contention).</value>
    [Range(1, 64)] public int InterOpThreads { get; set; } = 1;

    /// <summary>Intra-op threads of the text tower's session (queries; 0 = one per core, at most 4).</summary>
    [Range(0, 256)] public int TextIntraOpThreads { get; set; }

    /// <summary>Pad every batch to exactly this many images, with the model's batch axis fixed to it (0 = run the real
    /// count on a dynamic axis). Core ML compiles static shapes, so with <c>coreml</c> a value of 0 means
    /// <see cref="CoreMLBatch"/>.</summary>
    [Range(0, 1024)] public int FixedBatch { get; set; }

    /// <summary>Core ML's fixed batch when <see cref="FixedBatch"/> is 0. A worker sets it to its own batch size
    /// (<c>IngestFleet:Fleet:BatchSize</c>, or the tuned profile's), so the static shape is the batch it runs.</summary>
    /// <value>Default 16.</value>
    [Range(1, 1024)] public int CoreMLBatch { get; set; } = 16;

    /// <summary>A second, small fixed-shape session beside a fixed batch: calls of this many images or fewer run on it
    /// instead of being padded to the full batch (an online job alone costs 2 images, not 16). Null: 2 on Core ML, none
    /// elsewhere; 0: none. Its price is a second compiled copy of the model (see README, "Core ML: static shapes").</summary>
    [Range(0, 1024)] public int? SmallFixedBatch { get; set; }

    /// <summary>Write the graph ORT will run (after its optimizations and the static-shape overrides) to this .onnx path
    /// (a fixed-shape session adds "-b{batch}" to the name), to inspect what an EP was given.</summary>
    public string? OptimizedModelPath { get; set; }

    /// <value>Core ML compute units: ALL, CPUAndNeuralEngine, CPUAndGPU or CPUOnly. Default ALL.</value>
    [RegularExpression("^(ALL|CPUAndNeuralEngine|CPUAndGPU|CPUOnly)$")]
    public string CoreMLComputeUnits { get; set; } = "ALL";

    /// <summary>Where Core ML keeps compiled models between runs, one folder per model SHA-256 (default: a folder under
    /// the temp directory; the launchd plist sets /opt/ingestfleet/var/coreml-cache, which the daemon user owns).</summary>
    public string? CoreMLCacheDirectory { get; set; }

    [Range(0, 64)] public int CudaDeviceId { get; set; }

    /// <summary>Run the golden pack before serving (refuse to serve on a mismatch). Only tests turn it off.</summary>
    public bool VerifyGoldenPack { get; set; } = true;

    public int EffectiveIntraOpThreads => IntraOpThreads > 0 ? IntraOpThreads : Environment.ProcessorCount;

    /// <summary>A copy that skips the golden check (a second session of a model already verified in this process).</summary>
    public EmbedderOptions WithoutGoldenCheck()
    {
        var copy = (EmbedderOptions)MemberwiseClone();
        copy.VerifyGoldenPack = false;
        return copy;
    }

    /// <summary>A copy whose Core ML static batch is <paramref name="batch"/> (the worker's batch size).</summary>
    public EmbedderOptions WithCoreMLBatch(int batch)
    {
        var copy = (EmbedderOptions)MemberwiseClone();
        copy.CoreMLBatch = batch;
        return copy;
    }

    /// <summary>A copy with another intra-op thread cap (a tuned profile's).</summary>
    public EmbedderOptions WithIntraOpThreads(int threads)
    {
        var copy = (EmbedderOptions)MemberwiseClone();
        copy.IntraOpThreads = threads;
        return copy;
    }
}
