using IngestFleet.Contracts;

namespace IngestFleet.Worker.Fetching;

/// <summary>
/// The bytes of one image, or the reason code for why there are none. <see cref="Transient"/> marks an infrastructure
/// fault that a retry may cure (the fetcher retries it; only after its budget does it become a dead letter).
/// </summary>
public readonly record struct FetchResult(byte[]? Bytes, Rejection? Rejection, TimeSpan Elapsed, bool Transient = false, int Attempts = 1)
{
    public static FetchResult Fail(string reason, string detail) => new(null, new Rejection(reason, detail), TimeSpan.Zero);

    /// <summary>A fault worth retrying; dead-lettered <c>transient_exhausted</c> if it outlasts the retries.</summary>
    public static FetchResult Retry(string detail) => new(null, new Rejection(ReasonCodes.TransientExhausted, detail), TimeSpan.Zero, Transient: true);
}
