using System.Collections.Concurrent;
using Microsoft.ML.OnnxRuntime;

namespace IngestFleet.Embedding.Inference;

/// <summary>
/// One ONNX Runtime <see cref="PrePackedWeightsContainer"/> per model file and EP in the process. Sessions created with
/// the same container keep one copy of every pre-packed weight (MatMul/Gemm/Attention weights, the bulk of a ViT): the
/// first session packs them, later ones find them by content and share the buffers, and ORT drops each session's
/// unpacked original once it is packed. The containers live as long as the process (they are small without sessions,
/// and a worker serves one revision).
/// </summary>
public static class SharedWeights
{
    private static readonly ConcurrentDictionary<string, PrePackedWeightsContainer> Containers = new(StringComparer.Ordinal);

    public static PrePackedWeightsContainer For(Models.ModelManifest manifest, ExecutionProvider ep) =>
        Containers.GetOrAdd($"{Path.GetFullPath(manifest.OnnxPath)}|{manifest.Onnx.Sha256}|{ep}", _ => new PrePackedWeightsContainer());
}
