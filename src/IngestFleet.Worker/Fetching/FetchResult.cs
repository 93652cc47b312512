using IngestFleet.Contracts;

namespace IngestFleet.Worker.Fetching;

/// <summary>The bytes of one image, or the reason code for why there are none.</summary>
public readonly record struct FetchResult(byte[]? Bytes, Rejection? Rejection, TimeSpan Elapsed)
{
    public static FetchResult Fail(string reason, string detail) => new(null, new Rejection(reason, detail), TimeSpan.Zero);
}
