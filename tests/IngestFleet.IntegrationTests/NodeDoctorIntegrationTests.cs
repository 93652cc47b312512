using System.Text.Json;
using IngestFleet.Tests.Cli;

namespace IngestFleet.IntegrationTests;

/// <summary><c>ingestfleet node doctor</c> against the real broker and S3 server.</summary>
[Collection(FleetTests.Name)]
public sealed class NodeDoctorIntegrationTests(FleetFixture fixture)
{
    private static readonly string[] Checks = ["execution provider", "model bundle", "memory", "thread caps", "fetch guard", "swap", "broker", "object store"];

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
    public async Task AProfileTunedForAnotherModel_MakesTheNodeUnfit()
    {
        using var world = await fixture.NewWorldAsync();
        var path = Path.Combine(Directory.CreateTempSubdirectory("ingestfleet-doctor-").FullName, "profile.json");
        await File.WriteAllTextAsync(path, """{"profile_version":1,"model_revision":"siglip-tiny-r1","execution_provider":"cpu","intra_op_threads":1,"inter_op_threads":1,"batch":4}""");
        var r = CliRunner.RunWith(world.Settings(), "node", "doctor", "--profile", path);
        Assert.Equal(8, r.ExitCode);
        Assert.Contains("was tuned for siglip-tiny-r1", r.Stdout, StringComparison.Ordinal);
    }
}
