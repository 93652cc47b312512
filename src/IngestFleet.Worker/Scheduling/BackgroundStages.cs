using IngestFleet.Embedding;
using IngestFleet.Embedding.Inference;

namespace IngestFleet.Worker.Scheduling;

/// <summary>Where a less urgent batch runs its CPU stages: the low-priority threads, and an ORT session created on them
/// (on the CPU EP, whose intra-op threads then run at low priority too), or the foreground session itself (on Core ML
/// and CUDA the model runs on the device, where OS priority means nothing, so a second session would only cost memory).</summary>
public sealed class BackgroundStages(BackgroundExecutor executor, Embedder embedder, bool ownsEmbedder = true) : IStageExecutor, IDisposable
{
    public BackgroundExecutor Executor { get; } = executor;
    public Embedder Embedder { get; } = embedder;

    public Task<T> RunAsync<T>(Func<T> work) => Executor.RunAsync(work);

    public static BackgroundStages Create(BackgroundExecutor executor, Func<Embedder> load) =>
        new(executor, executor.RunAsync(load).GetAwaiter().GetResult());

    /// <summary>Whether this holds a session of its own, or uses the foreground one.</summary>
    public bool OwnSession => ownsEmbedder;

    public void Dispose()
    {
        if (ownsEmbedder) Embedder.Dispose();
        Executor.Dispose();
    }
}
