namespace IngestFleet.Tests.Deploy;

/// <summary>A fact that needs docker-compose (only its config validation, no engine): INGESTFLEET_DOCKER_COMPOSE, which
/// tests/run.sh sets, or docker-compose on PATH; skipped with the reason without it.</summary>
public sealed class ComposeFactAttribute : FactAttribute
{
    public ComposeFactAttribute()
    {
        if (DockerCompose is null) Skip = "docker-compose not found (tests/run.sh installs Debian's docker-compose)";
    }

    internal static string? DockerCompose { get; } =
        Environment.GetEnvironmentVariable("INGESTFLEET_DOCKER_COMPOSE") is { Length: > 0 } set && File.Exists(set) ? set
        : (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Select(d => Path.Combine(d, "docker-compose")).FirstOrDefault(File.Exists);
}
