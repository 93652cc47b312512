namespace IngestFleet.Tests.Cli;

public sealed class LimitsCommandTests
{
    [Fact]
    public void LimitsCommand_PrintsEveryQueue_AndRefusesInconsistentLimitsWithExit6()
    {
        var ok = CliRunner.Run("limits", "--json");
        Assert.Equal(0, ok.ExitCode);
        Assert.Contains("\"max_depth\": 500000", ok.Stdout);
        Assert.Contains("never shed", ok.Stdout);
        var bad = CliRunner.RunWith(new Dictionary<string, string> { ["IngestFleet__Limits__Queues__online__ShedRank"] = "3" }, "limits");
        Assert.Equal(6, bad.ExitCode);
        Assert.Contains("would shed online before the less urgent", bad.Stderr);
    }
}
