namespace IngestFleet.Embedding;

/// <summary>A CPU-stage admission hook for <see cref="EmbeddingPipeline"/> (the worker's priority gate implements it): each decode takes one unit, each inference
/// call takes as many units as it has intra-op threads.</summary>
public interface IStageGate
{
    ValueTask<IDisposable> EnterAsync(int units, CancellationToken cancellationToken);

    /// <summary>For I/O steps (fetch, write) that take no CPU units: waits while a more urgent batch is in progress.</summary>
    ValueTask WaitForTurnAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Whether a stage of this level that is already running in native code (a libvips decode, see
    /// <see cref="DecodeYield"/>) should pause now: a more urgent batch is in progress and no more urgent stage waits for
    /// a unit. It never throws and never blocks for long (it is read inside libvips' read callback).
    /// </summary>
    bool MustYield() => false;
}
