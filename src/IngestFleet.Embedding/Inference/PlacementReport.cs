using System.Text;
using System.Text.RegularExpressions;
using IngestFleet.Embedding.Models;
using Microsoft.ML.OnnxRuntime;

namespace IngestFleet.Embedding.Inference;

/// <summary>
/// Where ORT placed the graph, read from the session's own log lines (captured through the environment's logging
/// callback): node counts per EP, partition counts Core ML reports, and the nodes that fell back to the CPU EP
/// when another EP was preferred.
/// </summary>
public sealed partial record PlacementReport(
    ExecutionProvider Ep, IReadOnlyDictionary<string, int> NodesPerProvider, IReadOnlyDictionary<string, IReadOnlyList<string>> NodeNames,
    int? CoreMLPartitions, int? CoreMLNodes, IReadOnlyList<string> Warnings)
{
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
        int? partitions = null, coremlNodes = null;
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
                    partitions = int.Parse(c.Groups["p"].Value, System.Globalization.CultureInfo.InvariantCulture);
                    coremlNodes = int.Parse(c.Groups["n"].Value, System.Globalization.CultureInfo.InvariantCulture);
                }
                if (line.Severity >= OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING && text.Length > 0)
                    warnings.Add(text);
            }
        }
        return new PlacementReport(ep, counts, names.ToDictionary(k => k.Key, v => (IReadOnlyList<string>)v.Value), partitions, coremlNodes, warnings)
        {
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
            sb.AppendLine($"  Core ML partitions: {p}, nodes supported by Core ML: {CoreMLNodes}");
        sb.AppendLine($"  fallback nodes: {FallbackNodes.Count}");
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

    [GeneratedRegex(@"number of partitions supported by CoreML: (?<p>\d+).*?number of nodes supported by CoreML: (?<n>\d+)")]
    private static partial Regex CoreMLSupport();
}
