using System.Diagnostics;

namespace IngestFleet.Tests.Deploy;

/// <summary>
/// The Mac node's install and launch scripts, run for real with bash and sh on a bundle laid out as .ci/release.sh
/// lays it out. What only a Mac has (dscl, launchctl, sudo, chown to the daemon user, uname Darwin) is a recording
/// stand-in on PATH; every path goes under a scratch root (INGESTFLEET_INSTALL_PREFIX). The worker is a stand-in that
/// records the arguments and environment it was started with.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class MacNodeScriptsTests
{
    private const string Password = "p&ss$word \"x\" `id` $(id)";

    private sealed record Install(int ExitCode, string Output, string Root, string Calls, string WorkerSaw);

    private static Install RunInstall(int doctorExit, string envFile)
    {
        var t = Directory.CreateTempSubdirectory("ingestfleet-macnode-").FullName;
        var bin = Directory.CreateDirectory(Path.Combine(t, "bin")).FullName;
        var calls = Path.Combine(t, "calls.log");
        Stub(bin, "uname", "echo Darwin");
        Stub(bin, "id", "[ \"${1:-}\" = -u ] && echo 0 || /usr/bin/id \"$@\"");
        // dscl: a record exists once it was created; reading it then answers like dscl does ("Key: value").
        Stub(bin, "dscl", $"case \"$2\" in -read) grep -q -- \"-create $3 \" '{calls}' 2>/dev/null || exit 1; echo \"$4: 401\" ;; esac; echo \"dscl $*\" >>'{calls}'");
        Stub(bin, "launchctl", $"echo \"launchctl $*\" >>'{calls}'");
        Stub(bin, "chown", $"echo \"chown $*\" >>'{calls}'");
        Stub(bin, "sudo", $"echo \"sudo $1 $2\" >>'{calls}'; shift 2; exec \"$@\"");

        var bundle = Path.Combine(t, "ingestfleet-worker-0.1.0-osx-arm64");
        CopyDirectory(Path.Combine(TestPaths.RepositoryRoot, "src", "IngestFleet.WorkerHost", "macos"), Path.Combine(bundle, "macos"));
        File.Copy(Path.Combine(bundle, "macos", "run-worker.sh"), Path.Combine(bundle, "run-worker.sh"));
        File.WriteAllText(Path.Combine(bundle, "VERSION"), "0.1.0\n");
        var saw = Path.Combine(t, "worker-saw.txt");
        Stub(bundle, "ingestfleet-worker",
            $"{{ echo \"args=$*\"; echo \"uri=$IngestFleet__RabbitMq__Uri\"; echo \"models=$INGESTFLEET_MODELS\"; echo \"cache=$IngestFleet__ModelBundle__CacheDirectory\"; " +
            $"echo \"coreml=$IngestFleet__Embedder__CoreMLCacheDirectory\"; echo \"cwd=$(pwd)\"; }} >'{saw}'; exit {doctorExit}");

        var root = Path.Combine(t, "root");
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { Path.Combine(bundle, "macos", "install.sh"), "--env", envFile }) psi.ArgumentList.Add(a);
        psi.Environment["PATH"] = bin + ":" + Environment.GetEnvironmentVariable("PATH");
        psi.Environment["INGESTFLEET_INSTALL_PREFIX"] = root;
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        return new Install(p.ExitCode, output, root, File.Exists(calls) ? File.ReadAllText(calls) : "", File.Exists(saw) ? File.ReadAllText(saw) : "");
    }

    private static string EnvFile(string body)
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("ingestfleet-env-").FullName, "worker.env");
        File.WriteAllText(path, body);
        return path;
    }

    [Fact]
    public void Install_RunsTheDoctorAsTheDaemonWould_ThenEnablesBeforeBootstrapping_WithPrivateLogsAndAHiddenUser()
    {
        var r = RunInstall(0, EnvFile($"# a comment\n\nIngestFleet__RabbitMq__Uri=amqps://ingest:{Password}@broker.example.com:5671/\n"));
        Assert.True(r.ExitCode == 0, r.Output);
        // The doctor ran through the launcher, as the daemon user, with the password exactly as written.
        Assert.Contains("args=--doctor", r.WorkerSaw, StringComparison.Ordinal);
        Assert.Contains($"uri=amqps://ingest:{Password}@broker.example.com:5671/", r.WorkerSaw, StringComparison.Ordinal);
        Assert.Contains($"cache={r.Root}/opt/ingestfleet/var/models", r.WorkerSaw, StringComparison.Ordinal);
        Assert.Contains($"coreml={r.Root}/opt/ingestfleet/var/coreml-cache", r.WorkerSaw, StringComparison.Ordinal);
        Assert.Contains("sudo -u _ingestfleet", r.Calls, StringComparison.Ordinal);

        var launchctl = r.Calls.Split('\n').Where(l => l.StartsWith("launchctl", StringComparison.Ordinal)).ToList();
        Assert.Equal(["launchctl bootout system/com.ingestfleet.worker", "launchctl enable system/com.ingestfleet.worker",
            $"launchctl bootstrap system {r.Root}/Library/LaunchDaemons/com.ingestfleet.worker.plist"], launchctl);
        Assert.Contains("dscl . -create /Users/_ingestfleet IsHidden 1", r.Calls, StringComparison.Ordinal);
        Assert.Contains("dscl . -create /Users/_ingestfleet NFSHomeDirectory /var/empty", r.Calls, StringComparison.Ordinal);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, File.GetUnixFileMode($"{r.Root}/opt/ingestfleet/etc/worker.env"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute,
            File.GetUnixFileMode($"{r.Root}/opt/ingestfleet/log"));
        Assert.True(Directory.Exists($"{r.Root}/opt/ingestfleet/var/models") && Directory.Exists($"{r.Root}/opt/ingestfleet/var/coreml-cache"));
        Assert.True(File.Exists($"{r.Root}/etc/newsyslog.d/ingestfleet.conf"));
        Assert.Equal($"{r.Root}/opt/ingestfleet/worker/0.1.0", new DirectoryInfo($"{r.Root}/opt/ingestfleet/worker/current").LinkTarget);
    }

    [Fact]
    public void Install_LeavesTheDaemonUnstarted_WhenTheDoctorSaysTheNodeIsNotFit()
    {
        var r = RunInstall(8, EnvFile("IngestFleet__Model=clip-tiny-r1\n"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("not fit", r.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("launchctl bootstrap", r.Calls, StringComparison.Ordinal);
        Assert.DoesNotContain("launchctl enable", r.Calls, StringComparison.Ordinal);
        Assert.DoesNotContain("launchctl bootout", r.Calls, StringComparison.Ordinal); // a running worker is left alone
        Assert.False(File.Exists($"{r.Root}/opt/ingestfleet/worker/current") || Directory.Exists($"{r.Root}/opt/ingestfleet/worker/current"),
            "current must not move to a build the doctor refused");
    }

    [Fact]
    public void TheLauncher_RefusesALineThatIsNotKeyValue_NamingIt()
    {
        var r = RunInstall(0, EnvFile("IngestFleet__Model=clip-tiny-r1\nexport FOO=bar\n"));
        Assert.Equal(2, r.ExitCode); // the doctor could not start: the daemon is not started either
        Assert.Contains("worker.env:2: not KEY=value", r.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void TheShippedEnvExample_InstallsAsShipped_AndNamesAModelTheBundleHas()
    {
        var example = Path.Combine(TestPaths.RepositoryRoot, "src", "IngestFleet.WorkerHost", "macos", "worker.env.example");
        var r = RunInstall(0, EnvFile(File.ReadAllText(example)));
        Assert.True(r.ExitCode == 0, r.Output); // every line reads as KEY=value (or a comment)
        Assert.Contains("uri=amqps://ingest:CHANGE-ME@broker.example.com:5671/", r.WorkerSaw, StringComparison.Ordinal);
        var model = File.ReadAllLines(example).Single(l => l.StartsWith("IngestFleet__Model=", StringComparison.Ordinal))["IngestFleet__Model=".Length..];
        // The bundle carries the bundled models (.ci/release.sh), which the plist's INGESTFLEET_MODELS points at.
        Assert.Equal(model, IngestFleet.Embedding.Models.ModelLocator.Load(model).Revision);
    }

    [Fact]
    public void TheRotationConfig_NeverCompressesTheFilesLaunchdHoldsOpen_AndThePlistKeepsLogsPrivate()
    {
        var macos = Path.Combine(TestPaths.RepositoryRoot, "src", "IngestFleet.WorkerHost", "macos");
        var rules = File.ReadAllLines(Path.Combine(macos, "newsyslog-ingestfleet.conf")).Where(l => l.StartsWith('/')).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
        Assert.Equal(2, rules.Count);
        // newsyslog.conf(5): flag J/Z/X compress the rotated file (bzip2, gzip, xz); N means there is no process to signal.
        Assert.All(rules, r => Assert.Equal("N", r[^1]));
        Assert.All(rules, r => Assert.Equal("640", r[2]));
        Assert.Contains("<key>Umask</key>\n  <integer>23</integer>", File.ReadAllText(Path.Combine(macos, "com.ingestfleet.worker.plist")), StringComparison.Ordinal);
    }

    private static void Stub(string dir, string name, string body)
    {
        var path = Path.Combine(dir, name);
        File.WriteAllText(path, "#!/bin/sh\n" + body + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute);
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
    }
}
