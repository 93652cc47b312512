namespace IngestFleet.Worker.Scheduling;

/// <summary>The low-priority threads and ORT session for less urgent classes, when enabled.</summary>
public sealed record BackgroundStagesHolder(BackgroundStages? Stages) : IDisposable
{
    public void Dispose() => Stages?.Dispose();
}
