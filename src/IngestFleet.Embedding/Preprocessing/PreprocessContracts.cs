using IngestFleet.Embedding.Models;

namespace IngestFleet.Embedding.Preprocessing;

/// <summary>The published preprocessing contracts of the two families (OpenAI CLIP and Google SigLIP processors).</summary>
public static class PreprocessContracts
{
    public static PreprocessContract Clip(int size) => new()
    {
        Size = size, ResizeMode = ResizeMode.ShortestEdge, Resampler = "bicubic", Crop = "center",
        Mean = [0.48145466, 0.4578275, 0.40821073], Std = [0.26862954, 0.26130258, 0.27577711],
    };

    public static PreprocessContract SigLip(int size) => new()
    {
        Size = size, ResizeMode = ResizeMode.Squash, Resampler = "bicubic", Crop = "none", Mean = [0.5, 0.5, 0.5], Std = [0.5, 0.5, 0.5],
    };
}
