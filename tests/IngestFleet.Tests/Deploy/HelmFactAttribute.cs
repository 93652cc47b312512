namespace IngestFleet.Tests.Deploy;

/// <summary>A fact that needs the helm binary (INGESTFLEET_HELM, which tests/run.sh sets, or helm on PATH); without
/// it the test is reported as skipped, with the reason.</summary>
public sealed class HelmFactAttribute : FactAttribute
{
    public HelmFactAttribute()
    {
        if (Helm.Path is null) Skip = "helm not found: set INGESTFLEET_HELM or put helm on PATH (tests/run.sh installs Helm 3.17)";
    }
}

internal static class Helm
{
    public static string? Path { get; } = Find();

    private static string? Find()
    {
        if (Environment.GetEnvironmentVariable("INGESTFLEET_HELM") is { Length: > 0 } set && File.Exists(set)) return set;
        return (Environment.GetEnvironmentVariable("PATH") ?? "").Split(System.IO.Path.PathSeparator)
            .Select(d => System.IO.Path.Combine(d, "helm")).FirstOrDefault(File.Exists);
    }

    public static (int ExitCode, string Output) Run(params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo(Path!) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = TestPaths.RepositoryRoot };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result + stderr);
    }
}
