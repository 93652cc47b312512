using IngestFleet.Embedding;
using IngestFleet.Embedding.Inference;

namespace IngestFleet.Worker.Scheduling;

/// <summary>Where a less urgent batch runs its CPU stages: the low-priority threads, and an ORT session created on them.</summary>
public sealed class BackgroundStages(BackgroundExecutor executor, Embedder embedder) : IStageExecutor, IDisposable
{
    public BackgroundExecutor Executor { get; } = executor;
    public Embedder Embedder { get; } = embedder;

    public Task<T> RunAsync<T>(Func<T> work) => Executor.RunAsync(work);

    public static BackgroundStages Create(BackgroundExecutor executor, Func<Embedder> load) =>
        new(executor, executor.RunAsync(load).GetAwaiter().GetResult());

    public void Dispose()
    {
        Embedder.Dispose();
        Executor.Dispose();
    }
}
