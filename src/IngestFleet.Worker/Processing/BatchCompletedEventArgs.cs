namespace IngestFleet.Worker.Processing;

/// <summary>One finished batch, as observers of the ledger see it: its queue's class, its size, its report, each job's
/// latency from enqueue (the producer's stamp) to its outcome being stored in seconds, the dead letters by reason
/// code, and the wall time of its fetch → preprocess → embed pipeline (what <c>ingestfleet tune</c> measures per batch).</summary>
public sealed class BatchCompletedEventArgs(string priority, int size, BatchReport report, IReadOnlyList<double> latenciesSeconds,
    IReadOnlyDictionary<string, int> rejectionsByReason, TimeSpan pipelineWall) : EventArgs
{
    public string Priority { get; } = priority;
    public int Size { get; } = size;
    public BatchReport Report { get; } = report;
    public IReadOnlyList<double> LatenciesSeconds { get; } = latenciesSeconds;
    public IReadOnlyDictionary<string, int> RejectionsByReason { get; } = rejectionsByReason;
    public TimeSpan PipelineWall { get; } = pipelineWall;
}
