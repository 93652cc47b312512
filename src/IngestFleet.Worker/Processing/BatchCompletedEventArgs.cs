namespace IngestFleet.Worker.Processing;

/// <summary>One finished batch, as observers of the ledger see it: its queue's class, its report, and each job's
/// latency from enqueue (the producer's stamp) to its outcome being stored, in seconds.</summary>
public sealed class BatchCompletedEventArgs(string priority, BatchReport report, IReadOnlyList<double> latenciesSeconds) : EventArgs
{
    public string Priority { get; } = priority;
    public BatchReport Report { get; } = report;
    public IReadOnlyList<double> LatenciesSeconds { get; } = latenciesSeconds;
}
