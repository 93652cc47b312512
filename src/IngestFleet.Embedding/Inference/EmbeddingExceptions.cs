namespace IngestFleet.Embedding.Inference;

/// <summary>The requested execution provider cannot run here.</summary>
public sealed class ExecutionProviderUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The golden pack did not reproduce on the chosen EP: the model must not serve.</summary>
public sealed class GoldenPackMismatchException(string revision, string ep, double worst, double epsilon)
    : Exception($"model {revision} on EP {ep}: worst cosine distance {worst:G4} exceeds epsilon {epsilon:G4}; refusing to serve. " +
                "Check the EP's precision settings, or re-forge the golden pack if the model file changed on purpose.")
{
    public string Revision { get; } = revision;
    public string Ep { get; } = ep;
    public double Worst { get; } = worst;
    public double Epsilon { get; } = epsilon;
}
