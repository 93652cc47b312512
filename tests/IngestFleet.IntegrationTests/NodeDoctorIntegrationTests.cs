using System.Text.Json;
using IngestFleet.Tests.Cli;

namespace IngestFleet.IntegrationTests;

/// <summary><c>ingestfleet node doctor</c> against the real broker and S3 server.</summary>
[Collection(FleetTests.Name)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class NodeDoctorIntegrationTests(FleetFixture fixture)
{
    private static readonly string[] Checks = ["execution provider", "model bundle", "memory", "thread caps", "fetch guard", "source allow-list", "swap", "broker", "object store"];

    [Fact]
    public async Task AHealthyNode_IsFit_AndEveryCheckIsReported()
    {
        using var world = await fixture.NewWorldAsync();
        var r = CliRunner.RunWith(world.Settings(), "node", "doctor", "--json");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        Assert.True(doc.RootElement.GetProperty("fit").GetBoolean());
        var names = doc.RootElement.GetProperty("checks").EnumerateArray().Select(c => c.GetProperty("check").GetString()).ToList();
        Assert.Equal(Checks.Order(StringComparer.Ordinal), names.Order(StringComparer.Ordinal));
        Assert.All(doc.RootElement.GetProperty("checks").EnumerateArray(), c => Assert.True(c.GetProperty("ok").GetBoolean(), c.ToString()));
        Assert.Contains("golden pack", r.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ABrokerOutOfReach_MakesTheNodeUnfit_NamingTheBroker_Exit8()
    {
        using var world = await fixture.NewWorldAsync();
        var settings = world.Settings();
        settings["IngestFleet__RabbitMq__Uri"] = "amqp://guest:guest@127.0.0.1:1/";
        var r = CliRunner.RunWith(settings, "node", "doctor");
        Assert.Equal(8, r.ExitCode);
        Assert.Contains("FAIL  broker", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("NOT fit to take traffic: broker", r.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NoSourceAllowList_MakesTheNodeUnfit_AsTheWorkerWouldRefuseToStart()
    {
        using var world = await fixture.NewWorldAsync();
        var settings = world.Settings();
        Assert.True(settings.Remove("IngestFleet__SourcePolicy__RequireAllowList"));
        var r = CliRunner.RunWith(settings, "node", "doctor");
        Assert.Equal(8, r.ExitCode);
        Assert.Contains("NOT fit to take traffic: source allow-list", r.Stdout, StringComparison.Ordinal);
        settings["IngestFleet__SourcePolicy__S3Sources__acme__0"] = $"{world.Bucket}/acme/*";
        Assert.Equal(0, CliRunner.RunWith(settings, "node", "doctor").ExitCode);
    }

    [Fact]
    public async Task AProfileTunedForAnotherModel_MakesTheNodeUnfit()
    {
        using var world = await fixture.NewWorldAsync();
        var path = Path.Combine(Directory.CreateTempSubdirectory("ingestfleet-doctor-").FullName, "profile.json");
        await File.WriteAllTextAsync(path, """{"profile_version":1,"model_revision":"siglip-tiny-r1","execution_provider":"cpu","intra_op_threads":1,"inter_op_threads":1,"batch":4}""");
        var r = CliRunner.RunWith(world.Settings(), "node", "doctor", "--profile", path);
        Assert.Equal(8, r.ExitCode);
        Assert.Contains("was tuned for siglip-tiny-r1", r.Stdout, StringComparison.Ordinal);
    }

    /// <summary>The macOS daemon's user has the home /var/empty: nothing may need to write there. Here a Linux system
    /// user with a home it cannot write runs the worker's own doctor on a tenant's s3:// bundle, as install.sh does.</summary>
    [RootFact]
    public async Task AServiceUserWhoseHomeCannotBeWritten_RunsTheDoctorOnAnS3Bundle_AndTheNodeIsFit()
    {
        const string user = "ingestfleet-doctor";
        const string home = "/var/empty-ingestfleet-doctor";
        Directory.CreateDirectory(home); // root's, 755: the user cannot write it
        if (Run("id", user).ExitCode != 0)
            Assert.Equal(0, Run("useradd", "--system", "--no-create-home", "--home-dir", home, "--shell", "/usr/sbin/nologin", user).ExitCode);
        Assert.NotEqual(0, Run("runuser", "-u", user, "--", "test", "-w", home).ExitCode);

        using var world = await fixture.NewWorldAsync();
        var push = CliRunner.RunWith(world.Settings(), "models", "push", "clip-tiny-r1", "--tenant", "acme");
        Assert.True(push.ExitCode == 0, push.Stdout + push.Stderr);

        // The worker host's build, copied where any user can read it (the checkout may sit under a private folder).
        // (About 300 MB: deleted afterwards, or every run leaves one behind.)
        var bin = Directory.CreateTempSubdirectory("ingestfleet-doctor-bin-").FullName;
        (int ExitCode, string Output) r;
        try
        {
            CopyReadable(Path.Combine(IngestFleet.Tests.TestPaths.RepositoryRoot, "src", "IngestFleet.WorkerHost", "bin", "Release", "net10.0"), bin);
            File.SetUnixFileMode(bin, (UnixFileMode)0b111_101_101);
            var args = new List<string> { "-u", user, "--", "env", $"HOME={home}", "DOTNET_NOLOGO=1", $"IngestFleet__Model=s3://{world.Bucket}/models/acme/clip-tiny-r1" };
            args.AddRange(world.Settings().Select(kv => $"{kv.Key}={kv.Value}"));
            args.AddRange(["dotnet", Path.Combine(bin, "ingestfleet-worker.dll"), "--doctor", "--json"]);
            r = Run("runuser", [.. args]);
        }
        finally
        {
            Directory.Delete(bin, recursive: true);
        }
        Assert.True(r.ExitCode == 0, r.Output);
        using var doc = JsonDocument.Parse(r.Output[r.Output.IndexOf('{', StringComparison.Ordinal)..]);
        var model = doc.RootElement.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("check").GetString() == "model bundle");
        Assert.True(model.GetProperty("ok").GetBoolean(), model.ToString());
        Assert.True(doc.RootElement.GetProperty("fit").GetBoolean());
    }

    private static (int ExitCode, string Output) Run(string file, params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = "/" };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result + stderr);
    }

    private static void CopyReadable(string from, string to)
    {
        foreach (var dir in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)));
        foreach (var dir in Directory.GetDirectories(to, "*", SearchOption.AllDirectories))
            File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
    }
}

/// <summary>A fact that needs root on Linux (to create a system user); elsewhere it is reported as skipped.</summary>
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (!OperatingSystem.IsLinux() || Environment.UserName != "root" || !File.Exists("/usr/sbin/useradd") || !File.Exists("/usr/sbin/runuser"))
            Skip = "needs root on Linux with useradd and runuser (CI runs as root)";
    }
}
