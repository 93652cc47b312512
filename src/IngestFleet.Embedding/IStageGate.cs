namespace IngestFleet.Embedding;

/// <summary>A CPU-stage admission hook for <see cref="EmbeddingPipeline"/> (the worker's priority gate implements it): each decode takes one unit, each inference
/// call takes as many units as it has intra-op threads.</summary>
public interface IStageGate
{
    ValueTask<IDisposable> EnterAsync(int units, CancellationToken cancellationToken);

    /// <summary>For I/O steps (fetch, write) that take no CPU units: waits while a more urgent batch is in progress.</summary>
    ValueTask WaitForTurnAsync(CancellationToken cancellationToken);

    /// <summary>
    /// A yield point inside a decode that is already running in native code (libvips decodes on its own worker threads,
    /// at normal OS priority, so the low priority of the thread that asked for the decode does not reach it): blocks the
    /// calling thread while a more urgent batch is in progress, for at most <paramref name="most"/>, and returns whether
    /// it waited. It never throws: it is called from libvips' read callback.
    /// </summary>
    bool PauseWhileOutranked(TimeSpan most, CancellationToken cancellationToken) => false;
}
