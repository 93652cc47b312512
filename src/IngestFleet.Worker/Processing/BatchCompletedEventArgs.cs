namespace IngestFleet.Worker.Processing;

/// <summary>One finished batch, as observers of the ledger see it: its queue's class, its size, its report, each job's
/// latency from enqueue (the producer's stamp) to its outcome being stored in seconds, the dead letters by reason
/// code (the report's timings carry the batch's compute wall time, which <c>ingestfleet tune</c> measures too).</summary>
public sealed class BatchCompletedEventArgs(string priority, int size, BatchReport report, IReadOnlyList<double> latenciesSeconds,
    IReadOnlyDictionary<string, int> rejectionsByReason) : EventArgs
{
    public string Priority { get; } = priority;
    public int Size { get; } = size;
    public BatchReport Report { get; } = report;
    public IReadOnlyList<double> LatenciesSeconds { get; } = latenciesSeconds;
    public IReadOnlyDictionary<string, int> RejectionsByReason { get; } = rejectionsByReason;
}
