namespace IngestFleet.Embedding.Preprocessing;

/// <summary>What became of one image: written into the tensor, or refused with a stable reason code.</summary>
public readonly record struct PreprocessOutcome(
    bool Ok, string? Reason, string? Detail, string? Format, int Width, int Height, TimeSpan Elapsed)
{
    public static PreprocessOutcome Rejected(string reason, string detail, string? format = null, int width = 0, int height = 0) =>
        new(false, reason, detail, format, width, height, TimeSpan.Zero);
}
