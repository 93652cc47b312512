using IngestFleet.Contracts;

namespace IngestFleet.Embedding.Preprocessing;

/// <summary>What became of one image: written into the tensor, or refused with a stable reason code.</summary>
public readonly record struct PreprocessOutcome(Rejection? Rejection, string? Format, int Width, int Height, TimeSpan Elapsed)
{
    public bool Ok => Rejection is null;
    public string? Reason => Rejection?.Code;
    public string? Detail => Rejection?.Detail;

    public static PreprocessOutcome Accepted(string format, int width, int height) => new(null, format, width, height, TimeSpan.Zero);

    public static PreprocessOutcome Rejected(string reason, string detail, string? format = null, int width = 0, int height = 0) =>
        new(new Rejection(reason, detail), format, width, height, TimeSpan.Zero);
}
