using IngestFleet.Embedding.Inference;

namespace IngestFleet.Embedding;

/// <summary>Where a batch's CPU stages run, and with which session: the worker runs less urgent classes on
/// low-OS-priority threads with their own session (its BackgroundStages); null in <see cref="EmbeddingPipeline"/>
/// means the calling threads and the pipeline's own embedder.</summary>
public interface IStageExecutor
{
    Embedder Embedder { get; }

    Task<T> RunAsync<T>(Func<T> work);
}
