using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Models;
using Microsoft.ML.OnnxRuntime;

namespace IngestFleet.Tests.Embedding;

/// <summary>Fallbacks explained by the manifest versus unexplained ones, from ORT placement log messages in the exact
/// format ORT prints them for a Core ML session (Core ML itself cannot run here: no Mac): one message per line, from
/// onnxruntime core/framework/session_state.cc:1377-1385 and core/providers/coreml/coreml_execution_provider.cc:128-139
/// (main 89b01b4; the same literals in 1.25). Real printed lines from public ORT issues are in PlacementTruthTests.</summary>
public sealed class ExpectedFallbackTests
{
    private static readonly OrtLogLine[] CoreMLSession =
    [
        new(OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING, "s", "CoreMLExecutionProvider::GetCapability, number of partitions supported by CoreML: 2 number of nodes in the graph: 43 number of nodes supported by CoreML: 40"),
        new(OrtLoggingLevel.ORT_LOGGING_LEVEL_VERBOSE, "s", "Node placements"),
        new(OrtLoggingLevel.ORT_LOGGING_LEVEL_VERBOSE, "s", " Node(s) placed on [CoreMLExecutionProvider]. Number of nodes: 2"),
        new(OrtLoggingLevel.ORT_LOGGING_LEVEL_VERBOSE, "s", "  CoreML_6104331519212532101_0 (CoreMLExecutionProvider_CoreML_6104331519212532101_0_0)"),
        new(OrtLoggingLevel.ORT_LOGGING_LEVEL_VERBOSE, "s", "  CoreML_6104331519212532101_1 (CoreMLExecutionProvider_CoreML_6104331519212532101_1_1)"),
        new(OrtLoggingLevel.ORT_LOGGING_LEVEL_VERBOSE, "s", " Node(s) placed on [CPUExecutionProvider]. Number of nodes: 3"),
        new(OrtLoggingLevel.ORT_LOGGING_LEVEL_VERBOSE, "s", "  Erf (/blocks.0/mlp/Erf)"),
        new(OrtLoggingLevel.ORT_LOGGING_LEVEL_VERBOSE, "s", "  Erf (/blocks.1/mlp/Erf)"),
        new(OrtLoggingLevel.ORT_LOGGING_LEVEL_VERBOSE, "s", "  Gather (/pool/Gather)"),
    ];

    [Fact]
    public void FallbacksTheManifestLists_AreExplained_ByOpTypeOrNodePattern()
    {
        var placement = PlacementReport.Parse(ExecutionProvider.CoreML, CoreMLSession);
        Assert.Equal(["/blocks.0/mlp/Erf", "/blocks.1/mlp/Erf", "/pool/Gather"], placement.FallbackNodes);
        Assert.Equal(3, placement.Unexplained([]).Count);
        Assert.Equal(["/pool/Gather"], placement.Unexplained([new ExpectedFallback { OpType = "Erf", Reason = "Core ML has no Erf" }]));
        Assert.Empty(placement.Unexplained([
            new ExpectedFallback { Node = "/blocks.*/mlp/Erf", Reason = "GELU stays on CPU" },
            new ExpectedFallback { Node = "/pool/Gather", Reason = "class-token gather" },
        ]));
        Assert.Equal(2, placement.CoreMLPartitions);
        Assert.Equal(40.0 / 43, placement.EpNodeShare!.Value, 6); // S ÷ G, not the fused partition count
    }

    [Fact]
    public void OnTheCpuEp_NothingFallsBack() =>
        Assert.Empty(PlacementReport.Parse(ExecutionProvider.Cpu, CoreMLSession).Unexplained([]));

    [Fact]
    public void AnExpectedFallbackWithoutAReason_IsRefusedByTheManifestLoader()
    {
        var dir = TestPaths.CopyModel("clip-tiny-r1");
        var path = Path.Combine(dir, "manifest.json");
        var json = File.ReadAllText(path).TrimEnd().TrimEnd('}') + ", \"expected_fallbacks\": [ { \"op_type\": \"Erf\" } ] }";
        File.WriteAllText(path, json);
        var e = Assert.Throws<ModelManifestException>(() => ManifestLoader.Load(path));
        Assert.Contains("expected_fallbacks[0].reason", e.Message, StringComparison.Ordinal);
    }
}
