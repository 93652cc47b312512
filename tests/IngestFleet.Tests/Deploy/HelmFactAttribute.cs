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

/// <summary>A fact that needs helm and the Kubernetes schemas (INGESTFLEET_K8S_SCHEMAS: a folder with the npm packages
/// kubernetes-models, @kubernetes-models/keda and js-yaml, which .ci/services.sh installs); skipped with the reason.</summary>
public sealed class HelmSchemaFactAttribute : FactAttribute
{
    public HelmSchemaFactAttribute()
    {
        if (Helm.Path is null) Skip = "helm not found: set INGESTFLEET_HELM or put helm on PATH (tests/run.sh installs Helm 3.17)";
        else if (Schemas is null) Skip = "INGESTFLEET_K8S_SCHEMAS is not set (.ci/services.sh installs kubernetes-models with npm)";
    }

    public static string? Schemas { get; } =
        Environment.GetEnvironmentVariable("INGESTFLEET_K8S_SCHEMAS") is { Length: > 0 } dir && Directory.Exists(Path.Combine(dir, "node_modules", "kubernetes-models")) ? dir : null;
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
