using IngestFleet.Embedding;

namespace IngestFleet.Worker.Processing;

/// <summary>What one batch produced.</summary>
public sealed record BatchReport(int Embedded, int AlreadyPresent, int DeadLettered, BatchTimings Timings, TimeSpan Write);
