using System.Text.RegularExpressions;
using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Models;
using Microsoft.ML.OnnxRuntime;

namespace IngestFleet.Tests.Embedding;

/// <summary>
/// The placement report judges an accelerator by how much of the graph it holds, from log lines exactly as ORT prints
/// them. Every fixture here is a line pasted by a user in a public issue thread, verbatim; the C# logging callback
/// receives only the message after ORT's "[severity:onnxruntime:logid, file:line function] " prefix, which
/// <see cref="Printed"/> strips. The format strings: onnxruntime core/framework/session_state.cc:1377-1385 (VERBOSE:
/// "Node placements", " All nodes placed on [EP]. Number of nodes: N" when one provider holds every node, else
/// " Node(s) placed on [EP]. Number of nodes: N" and "  OpType (name)" per node) and
/// core/providers/coreml/coreml_execution_provider.cc:128-139 (the GetCapability summary, WARNING when there is more
/// than one partition, else INFO), at main 89b01b4 (1.30-dev); the literals are unchanged since 1.16.
/// </summary>
public sealed partial class PlacementTruthTests
{
    // https://github.com/microsoft/onnxruntime/issues/14212 (ORT 1.16, Core ML requested): 387 of 607 nodes in 114 partitions.
    private const string CoreMLSummary14212 =
        "2023-08-04 20:57:45.696448 [W:onnxruntime:, coreml_execution_provider.cc:81 GetCapability] CoreMLExecutionProvider::GetCapability, number of partitions supported by CoreML: 114 number of nodes in the graph: 607 number of nodes supported by CoreML: 387";

    // https://github.com/microsoft/onnxruntime/issues/16817: one provider held every node, and ORT names none of them.
    private const string AllOnCpu16817 =
        "2023-07-23 10:24:38.400805 [V:onnxruntime:, session_state.cc:1152 VerifyEachNodeIsAssignedToAnEp] All nodes placed on [CPUExecutionProvider]. Number of nodes: 69";

    // https://github.com/microsoft/onnxruntime/issues/16934 (a code block: "V::" and two spaces after the bracket).
    private static readonly string[] AllOnCpu16934 =
    [
        "[V::onnxruntime:, session_state.cc:1142 VerifyEachNodeIsAssignedToAnEp] Node placements",
        "[V::onnxruntime:, session_state.cc:1145 VerifyEachNodeIsAssignedToAnEp]  All nodes placed on [CPUExecutionProvider]. Number of nodes: 4",
    ];

    // https://github.com/ROCm/AMDMIGraphX/issues/1641: a provider list with a named node (three spaces after the bracket).
    private static readonly string[] NamedCpuNode1641 =
    [
        "2023-03-23 02:31:57.502510350 [V:onnxruntime:, session_state.cc:1122 VerifyEachNodeIsAssignedToAnEp]  Node(s) placed on [CPUExecutionProvider]. Number of nodes: 39",
        "2023-03-23 02:31:57.502515120 [V:onnxruntime:, session_state.cc:1124 VerifyEachNodeIsAssignedToAnEp]   Gather (Gather_1067)",
    ];

    /// <summary>A printed ORT log line as the logging callback receives it: severity and the message after the prefix.</summary>
    private static OrtLogLine Printed(string line)
    {
        var m = PrintedLine().Match(line);
        Assert.True(m.Success, line);
        var severity = m.Groups["sev"].Value switch
        {
            "V" => OrtLoggingLevel.ORT_LOGGING_LEVEL_VERBOSE,
            "I" => OrtLoggingLevel.ORT_LOGGING_LEVEL_INFO,
            "W" => OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING,
            "E" => OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
            _ => OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL,
        };
        return new OrtLogLine(severity, "s", m.Groups["message"].Value);
    }

    [GeneratedRegex(@"\[(?<sev>[VIWEF]):[^\]]*\] (?<message>.*)$")]
    private static partial Regex PrintedLine();

    [Fact]
    public void CoreMLsOwnSummary_GivesTheShareOfTheGraphItHolds()
    {
        var placement = PlacementReport.Parse(ExecutionProvider.CoreML, [Printed(CoreMLSummary14212)]);
        Assert.Equal(114, placement.CoreMLPartitions);
        Assert.Equal(607, placement.GraphNodes);
        Assert.Equal(387, placement.CoreMLNodes);
        Assert.Equal(387.0 / 607, placement.EpNodeShare!.Value, 6);
        Assert.False(placement.Holds(ModelManifest.DefaultMinEpNodeShare)); // 64 % < 80 %
        Assert.True(placement.Holds(0.6));
    }

    [Theory]
    [InlineData(ExecutionProvider.CoreML)]
    [InlineData(ExecutionProvider.Cuda)]
    public void AllNodesOnTheCpu_WithAnAcceleratorRequested_IsEveryNodeFallenBack_ThoughNoneIsNamed(ExecutionProvider ep)
    {
        var placement = PlacementReport.Parse(ep, [Printed(AllOnCpu16817)]);
        Assert.Empty(placement.FallbackNodes); // ORT named none of them
        Assert.Equal(69, placement.FallbackCount);
        Assert.Equal(69, placement.UnexplainedCount([]));
        Assert.Equal(69, placement.UnexplainedCount([new ExpectedFallback { OpType = "Erf", Reason = "no name to match, so nothing is explained" }]));
        Assert.Equal(0, placement.EpNodeShare);
        Assert.False(placement.Holds(0.01));
    }

    [Fact]
    public void AllNodesOnTheCpu_PrintedInACodeBlock_ParsesTheSame()
    {
        var placement = PlacementReport.Parse(ExecutionProvider.CoreML, AllOnCpu16934.Select(Printed).ToList());
        Assert.Equal(4, placement.FallbackCount);
        Assert.Equal(4, placement.UnexplainedCount([]));
        Assert.Equal(0, placement.EpNodeShare);
    }

    [Fact]
    public void NamedFallbackNodes_AreListed_AndOnTheCpuEpNothingFallsBack()
    {
        var lines = NamedCpuNode1641.Select(Printed).ToList();
        var cuda = PlacementReport.Parse(ExecutionProvider.Cuda, lines);
        Assert.Equal(["Gather_1067"], cuda.FallbackNodes);
        Assert.Equal(39, cuda.FallbackCount);
        Assert.Equal(38 + 1, cuda.UnexplainedCount([])); // one named, 38 more the excerpt does not name
        Assert.Equal(38, cuda.UnexplainedCount([new ExpectedFallback { OpType = "Gather", Reason = "index arithmetic" }]));
        var cpu = PlacementReport.Parse(ExecutionProvider.Cpu, lines);
        Assert.Equal(0, cpu.FallbackCount);
        Assert.Equal(1, cpu.EpNodeShare);
        Assert.True(cpu.Holds(1));
    }

    [Fact]
    public void WithNoPlacementLogged_TheShareIsUnknown_AndAnAcceleratorIsNotTakenToHoldTheGraph()
    {
        var placement = PlacementReport.Parse(ExecutionProvider.CoreML, []);
        Assert.Null(placement.EpNodeShare);
        Assert.False(placement.Holds(0));
    }

    [Fact]
    public void TheManifestSetsTheMinimumShare_AndTheLoaderChecksIt()
    {
        Assert.Equal(ModelManifest.DefaultMinEpNodeShare, TestPaths.Clip.MinEpNodeShare);
        var dir = TestPaths.CopyModel("clip-tiny-r1");
        var path = Path.Combine(dir, "manifest.json");
        var json = File.ReadAllText(path).TrimEnd().TrimEnd('}');
        File.WriteAllText(path, json + ", \"min_ep_node_share\": 0.6 }");
        Assert.Equal(0.6, ManifestLoader.Load(path).MinEpNodeShare);
        File.WriteAllText(path, json + ", \"min_ep_node_share\": 1.5 }");
        Assert.Contains("min_ep_node_share", Assert.Throws<ModelManifestException>(() => ManifestLoader.Load(path)).Message, StringComparison.Ordinal);
    }
}
