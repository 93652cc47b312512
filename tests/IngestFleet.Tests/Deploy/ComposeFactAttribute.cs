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

    /// <summary>The services of compose/docker-compose.yml as <c>docker-compose config</c> renders them (the command must
    /// succeed).</summary>
    internal static Dictionary<object, object> RenderedServices()
    {
        var psi = new System.Diagnostics.ProcessStartInfo(DockerCompose!, ["-f", "docker-compose.yml", "config"])
        { WorkingDirectory = Path.Combine(TestPaths.RepositoryRoot, "compose"), RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = System.Diagnostics.Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, stderr);
        var config = new YamlDotNet.Serialization.DeserializerBuilder().Build().Deserialize<Dictionary<string, object>>(stdout.Result);
        return (Dictionary<object, object>)config["services"];
    }
}
