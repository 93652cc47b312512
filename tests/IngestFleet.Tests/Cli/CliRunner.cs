using System.Diagnostics;

namespace IngestFleet.Tests.Cli;

/// <summary>Runs the real <c>ingestfleet</c> executable (built next to the tests) as a child process.</summary>
internal static class CliRunner
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static Result Run(params string[] args) => RunWith(null, args);

    public static Result RunWith(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var workingDirectory = AppContext.BaseDirectory;
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDirectory };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "ingestfleet.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        psi.Environment["COLUMNS"] = "200";
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            p.Kill(true);
            throw new TimeoutException($"ingestfleet {string.Join(' ', args)} did not finish in 3 minutes");
        }
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }
}
