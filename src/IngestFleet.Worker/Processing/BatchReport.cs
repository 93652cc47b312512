using IngestFleet.Embedding;

namespace IngestFleet.Worker.Processing;

/// <summary>What one batch produced. <paramref name="Deferred"/>: items put back on their queue because their fetch
/// outlasted the per-item budget (not finished: each ends later as a vector or a dead letter).</summary>
public sealed record BatchReport(int Embedded, int AlreadyPresent, int DeadLettered, BatchTimings Timings, TimeSpan Write, int Deferred = 0);
