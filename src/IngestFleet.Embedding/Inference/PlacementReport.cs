using System.Text;
using System.Text.RegularExpressions;
using IngestFleet.Embedding.Models;
using Microsoft.ML.OnnxRuntime;

namespace IngestFleet.Embedding.Inference;

/// <summary>
/// Where ORT placed the graph, read from the session's own log lines (captured through the environment's logging
/// callback): node counts per EP, the partition and node counts Core ML reports, and the nodes that fell back to the
/// CPU EP when another EP was preferred. The lines it reads, as ORT prints them (onnxruntime main 89b01b4, 1.30-dev;
/// the literals are the same in 1.25):
/// <list type="bullet">
/// <item>core/framework/session_state.cc:1377-1385 (VERBOSE): "Node placements", then either " All nodes placed on [EP].
/// Number of nodes: N" when one provider holds every node (no node names follow), or per provider " Node(s) placed on
/// [EP]. Number of nodes: N" followed by "  OpType (node name)" lines.</item>
/// <item>core/providers/coreml/coreml_execution_provider.cc:128-139 (WARNING when more than one partition, else INFO):
/// "CoreMLExecutionProvider::GetCapability, number of partitions supported by CoreML: P number of nodes in the graph: G
/// number of nodes supported by CoreML: S".</item>
/// </list>
/// Coverage is judged from S ÷ G for Core ML (its placement lines count fused partitions, not graph nodes) and from
/// the placement counts for CUDA; "All nodes placed on [CPUExecutionProvider]" with another EP requested is every node
/// fallen back, although ORT names none of them.
/// </summary>
public sealed partial record PlacementReport(
    ExecutionProvider Ep, IReadOnlyDictionary<string, int> NodesPerProvider, IReadOnlyDictionary<string, IReadOnlyList<string>> NodeNames,
    int? CoreMLPartitions, int? CoreMLNodes, IReadOnlyList<string> Warnings)
{
    private const string Cpu = "CPUExecutionProvider";

    /// <summary>Nodes in the graph Core ML was offered (G of its GetCapability summary; null when it logged none).</summary>
    public int? GraphNodes { get; init; }

    /// <summary>ORT's provider name for the requested EP.</summary>
    public string ProviderName => Ep switch
    {
        ExecutionProvider.CoreML => "CoreMLExecutionProvider",
        ExecutionProvider.Cuda => "CUDAExecutionProvider",
        _ => Cpu,
    };

    /// <summary>The share of the graph's nodes the requested EP holds: 1 on the CPU EP; for Core ML S ÷ G from its
    /// summary; otherwise the requested EP's nodes over all placed nodes; 0 when every node was placed on the CPU EP;
    /// null when ORT logged nothing to judge by.</summary>
    public double? EpNodeShare
    {
        get
        {
            if (Ep == ExecutionProvider.Cpu) return 1;
            if (Ep == ExecutionProvider.CoreML && GraphNodes is > 0 && CoreMLNodes is { } supported) return (double)supported / GraphNodes.Value;
            if (TotalNodes == 0) return null;
            return (double)NodesPerProvider.GetValueOrDefault(ProviderName) / TotalNodes;
        }
    }

    /// <summary>Nodes that run on the CPU EP although another EP was requested, named or not.</summary>
    public int FallbackCount => Ep == ExecutionProvider.Cpu ? 0 : NodesPerProvider.GetValueOrDefault(Cpu);

    /// <summary>Fallback nodes the manifest does not explain: the named ones it does not list, plus every node ORT
    /// placed on the CPU EP without naming it ("All nodes placed on [CPUExecutionProvider]"), which nothing can explain.</summary>
    public int UnexplainedCount(IReadOnlyList<ExpectedFallback> expected) =>
        Unexplained(expected).Count + Math.Max(0, FallbackCount - FallbackNodes.Count);

    /// <summary>Whether the requested EP holds at least <paramref name="minimumShare"/> of the graph (always on the CPU EP).</summary>
    public bool Holds(double minimumShare) => Ep == ExecutionProvider.Cpu || EpNodeShare >= minimumShare;

    public string ShareText => EpNodeShare is { } share
        ? $"{ProviderName} holds {share:P0} of the graph" + (Ep == ExecutionProvider.CoreML && GraphNodes is { } g
            ? $" ({CoreMLNodes} of {g} nodes in {CoreMLPartitions} partition(s))" : $" ({NodesPerProvider.GetValueOrDefault(ProviderName)} of {TotalNodes} placed nodes)")
        : $"ORT logged no placement for {ProviderName}";
    /// <summary>Op type per placed node, aligned with <see cref="NodeNames"/> (empty where ORT logged none).</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> NodeOps { get; init; } = new Dictionary<string, IReadOnlyList<string>>();

    /// <summary>Every node that did not land on the requested EP (it runs on the CPU EP instead).</summary>
    public IReadOnlyList<string> FallbackNodes =>
        Ep == ExecutionProvider.Cpu ? [] : NodeNames.TryGetValue("CPUExecutionProvider", out var n) ? n : [];

    /// <summary>The fallback nodes the manifest does not explain (by node name pattern or op type, with a reason).</summary>
    public IReadOnlyList<string> Unexplained(IReadOnlyList<ExpectedFallback> expected)
    {
        if (Ep == ExecutionProvider.Cpu || !NodeNames.TryGetValue("CPUExecutionProvider", out var names)) return [];
        var ops = NodeOps.TryGetValue("CPUExecutionProvider", out var o) ? o : [];
        return names.Where((name, i) => !expected.Any(e => e.Explains(name, i < ops.Count ? ops[i] : ""))).ToList();
    }

    public int TotalNodes => NodesPerProvider.Values.Sum();

    public static PlacementReport Parse(ExecutionProvider ep, IReadOnlyList<OrtLogLine> lines)
    {
        var counts = new Dictionary<string, int>();
        var names = new Dictionary<string, List<string>>();
        var ops = new Dictionary<string, List<string>>();
        int? partitions = null, coremlNodes = null, graphNodes = null;
        var warnings = new List<string>();
        string? current = null;
        foreach (var line in lines)
        {
            foreach (var raw in line.Message.Split('\n'))
            {
                var text = raw.TrimEnd();
                if (PlacedOn().Match(text) is { Success: true } m)
                {
                    current = m.Groups["ep"].Value;
                    counts[current] = counts.GetValueOrDefault(current) + int.Parse(m.Groups["n"].Value, System.Globalization.CultureInfo.InvariantCulture);
                    if (!names.ContainsKey(current)) { names[current] = []; ops[current] = []; }
                    continue;
                }
                if (current is not null && NodeLine().Match(text) is { Success: true } node)
                {
                    names[current].Add(node.Groups["name"].Value.Length > 0 ? node.Groups["name"].Value : node.Groups["op"].Value);
                    ops[current].Add(node.Groups["op"].Value);
                    continue;
                }
                current = null;
                if (CoreMLSupport().Match(text) is { Success: true } c)
                {
                    // GetCapability runs once per graph it is offered; the last summary describes the final graph.
                    partitions = int.Parse(c.Groups["p"].Value, System.Globalization.CultureInfo.InvariantCulture);
                    graphNodes = int.Parse(c.Groups["g"].Value, System.Globalization.CultureInfo.InvariantCulture);
                    coremlNodes = int.Parse(c.Groups["n"].Value, System.Globalization.CultureInfo.InvariantCulture);
                }
                if (line.Severity >= OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING && text.Length > 0)
                    warnings.Add(text);
            }
        }
        return new PlacementReport(ep, counts, names.ToDictionary(k => k.Key, v => (IReadOnlyList<string>)v.Value), partitions, coremlNodes, warnings)
        {
            GraphNodes = graphNodes,
            NodeOps = ops.ToDictionary(k => k.Key, v => (IReadOnlyList<string>)v.Value),
        };
    }

    public string Format()
    {
        var sb = new StringBuilder();
        sb.AppendLine($"execution provider: {Ep.Name()}");
        if (NodesPerProvider.Count == 0)
            sb.AppendLine("  (ORT logged no node placement)");
        foreach (var (provider, n) in NodesPerProvider.OrderByDescending(p => p.Value))
            sb.AppendLine($"  {provider,-28} {n,5} nodes");
        if (CoreMLPartitions is { } p)
            sb.AppendLine($"  Core ML partitions: {p}, nodes supported by Core ML: {CoreMLNodes} of {GraphNodes}");
        sb.AppendLine($"  {ShareText}");
        sb.AppendLine($"  fallback nodes: {FallbackCount}{(FallbackCount > FallbackNodes.Count ? $" ({FallbackCount - FallbackNodes.Count} not named by ORT)" : "")}");
        foreach (var n in FallbackNodes.Take(50))
            sb.AppendLine($"    {n}");
        foreach (var w in Warnings.Take(20))
            sb.AppendLine($"  warning: {w}");
        return sb.ToString();
    }

    // " Node(s) placed on [CPUExecutionProvider]. Number of nodes: 12" and " All nodes placed on [...]. Number of nodes: 1"
    [GeneratedRegex(@"(?:Node\(s\)|All nodes) placed on \[(?<ep>[A-Za-z]+)\]\. Number of nodes: (?<n>\d+)")]
    private static partial Regex PlacedOn();

    // "  MatMul (node_name)"
    [GeneratedRegex(@"^\s+(?<op>[A-Za-z0-9_]+) \((?<name>[^)]*)\)$")]
    private static partial Regex NodeLine();

    [GeneratedRegex(@"number of partitions supported by CoreML: (?<p>\d+) number of nodes in the graph: (?<g>\d+) number of nodes supported by CoreML: (?<n>\d+)")]
    private static partial Regex CoreMLSupport();
}
