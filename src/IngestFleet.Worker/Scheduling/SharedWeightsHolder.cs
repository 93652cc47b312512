using IngestFleet.Embedding.Inference;

namespace IngestFleet.Worker.Scheduling;

/// <summary>The one copy of the model's weights that the foreground and the low-priority CPU sessions share, when this
/// worker runs both; registered before the sessions, so the container disposes it after them.</summary>
public sealed record SharedWeightsHolder(SharedWeights? Weights) : IDisposable
{
    public void Dispose() => Weights?.Dispose();
}
