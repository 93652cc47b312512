using System.Diagnostics;
using System.Text;

namespace IngestFleet.Tests.Cli;

/// <summary>
/// One precedence for every entry point of both deployables: command-line options over environment variables over
/// appsettings.json (in the working directory) over defaults. Each case names a different unreachable broker address
/// in each layer and reads which one the host tried: the worker stops naming it (exit 7), the gateway logs it at start.
/// </summary>
public sealed class ConfigurationPrecedenceTests
{
    private const string FromAppSettings = "amqp://guest:guest@127.0.0.4:1/";
    private const string FromEnvironment = "amqp://guest:guest@127.0.0.2:1/";
    private const string FromCommandLine = "amqp://guest:guest@127.0.0.3:1/";

    public static TheoryData<string, bool, bool, string> Layers() => new()
    {
        // entry point, environment set, command line set, the address that must win
        { "ingestfleet worker", true, true, "127.0.0.3" },
        { "ingestfleet worker", true, false, "127.0.0.2" },
        { "ingestfleet worker", false, false, "127.0.0.4" },
        { "ingestfleet-worker", true, true, "127.0.0.3" },
        { "ingestfleet-worker", true, false, "127.0.0.2" },
        { "ingestfleet-worker", false, false, "127.0.0.4" },
        { "ingestfleet gateway", true, true, "127.0.0.3" },
        { "ingestfleet gateway", true, false, "127.0.0.2" },
        { "ingestfleet gateway", false, false, "127.0.0.4" },
        { "ingestfleet-gateway", true, true, "127.0.0.3" },
        { "ingestfleet-gateway", true, false, "127.0.0.2" },
        { "ingestfleet-gateway", false, false, "127.0.0.4" },
    };

    [Theory]
    [MemberData(nameof(Layers))]
    public async Task TheHighestLayerThatSetsTheBroker_Wins(string entryPoint, bool environment, bool commandLine, string expected)
    {
        var cwd = Directory.CreateTempSubdirectory("ingestfleet-precedence-").FullName;
        await File.WriteAllTextAsync(Path.Combine(cwd, "appsettings.json"),
            $$"""{ "IngestFleet": { "RabbitMq": { "Uri": "{{FromAppSettings}}" }, "S3": { "ServiceUrl": "http://127.0.0.1:1" } } }""");
        var (dll, args) = entryPoint switch
        {
            "ingestfleet worker" => (Cli, commandLine ? new[] { "worker", "--ep", "cpu", "--broker", FromCommandLine } : ["worker", "--ep", "cpu"]),
            "ingestfleet-worker" => (Host("WorkerHost", "ingestfleet-worker"), commandLine ? [$"--IngestFleet:RabbitMq:Uri={FromCommandLine}"] : []),
            "ingestfleet gateway" => (Cli, commandLine
                ? ["gateway", "--allow-anonymous", "--urls", "http://127.0.0.1:0", "--broker", FromCommandLine]
                : ["gateway", "--allow-anonymous", "--urls", "http://127.0.0.1:0"]),
            _ => (Host("GatewayHost", "ingestfleet-gateway"), commandLine
                ? [$"--IngestFleet:RabbitMq:Uri={FromCommandLine}", "--IngestFleet:Gateway:Auth:AllowAnonymous=true"]
                : ["--IngestFleet:Gateway:Auth:AllowAnonymous=true"]),
        };
        var env = new Dictionary<string, string>
        {
            ["ASPNETCORE_URLS"] = "http://127.0.0.1:0", ["IngestFleet__Embedder__ExecutionProvider"] = "cpu",
            ["IngestFleet__SourcePolicy__RequireAllowList"] = "false", // else the worker refuses before it tries the broker
        };
        if (environment) env["IngestFleet__RabbitMq__Uri"] = FromEnvironment;
        var output = await RunUntilAsync(dll, args, cwd, env, text => text.Contains("127.0.0.", StringComparison.Ordinal) && text.Contains(":1/", StringComparison.Ordinal));
        var tried = Addresses.Where(a => output.Contains(a + ":1", StringComparison.Ordinal)).ToList();
        Assert.True(tried.SequenceEqual([expected]), $"{entryPoint}: expected only {expected}, saw [{string.Join(", ", tried)}] in:\n{output}");
    }

    /// <summary>The node list follows the same precedence, and a list given on the command line replaces a configured
    /// one whole (the environment's second node must not survive the flag's one-node list).</summary>
    [Theory]
    [InlineData("ingestfleet worker")]
    [InlineData("ingestfleet gateway")]
    public async Task BrokerNodesOnTheCommandLine_ReplaceTheEnvironmentsList(string entryPoint)
    {
        var cwd = Directory.CreateTempSubdirectory("ingestfleet-precedence-").FullName;
        string[] args = entryPoint == "ingestfleet worker"
            ? ["worker", "--ep", "cpu", "--broker-nodes", "127.0.0.3:1"]
            : ["gateway", "--allow-anonymous", "--urls", "http://127.0.0.1:0", "--broker-nodes", "127.0.0.3:1"];
        var env = new Dictionary<string, string>
        {
            ["ASPNETCORE_URLS"] = "http://127.0.0.1:0", ["IngestFleet__Embedder__ExecutionProvider"] = "cpu",
            ["IngestFleet__SourcePolicy__RequireAllowList"] = "false", ["IngestFleet__S3__ServiceUrl"] = "http://127.0.0.1:1",
            ["IngestFleet__RabbitMq__Uri"] = FromEnvironment,
            ["IngestFleet__RabbitMq__ClusterNodes__0"] = "127.0.0.2:1", ["IngestFleet__RabbitMq__ClusterNodes__1"] = "127.0.0.5:1",
        };
        var output = await RunUntilAsync(Cli, args, cwd, env, text => text.Contains("(nodes ", StringComparison.Ordinal));
        Assert.Contains("(nodes 127.0.0.3:1)", output, StringComparison.Ordinal);
        Assert.DoesNotContain("127.0.0.5", output, StringComparison.Ordinal);
    }

    private static readonly string[] Addresses = ["127.0.0.2", "127.0.0.3", "127.0.0.4"];

    private static string Cli => Path.Combine(AppContext.BaseDirectory, "ingestfleet.dll");

    /// <summary>A deployable's own published entry point, as the solution build left it (tests/run.sh builds Release).</summary>
    private static string Host(string project, string assembly)
    {
        var path = Path.Combine(TestPaths.RepositoryRoot, "src", $"IngestFleet.{project}", "bin", "Release", "net10.0", assembly + ".dll");
        Assert.True(File.Exists(path), $"{path} is missing: build the solution in Release (tests/run.sh does)");
        return path;
    }

    /// <summary>Runs the process until it exits or its output satisfies <paramref name="done"/> (then it is killed).</summary>
    private static async Task<string> RunUntilAsync(string dll, string[] args, string cwd, Dictionary<string, string> env, Func<string, bool> done)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = cwd };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment.Remove("IngestFleet__RabbitMq__Uri");
        psi.Environment["NO_COLOR"] = "1";
        foreach (var (k, v) in env) psi.Environment[k] = v;
        var output = new StringBuilder();
        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (!p.HasExited && DateTime.UtcNow < deadline)
        {
            lock (output) if (done(output.ToString())) break;
            await Task.Delay(100);
        }
        if (!p.HasExited) p.Kill(entireProcessTree: true);
        await p.WaitForExitAsync();
        lock (output) return output.ToString();
    }
}
