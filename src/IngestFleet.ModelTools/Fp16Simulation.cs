using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace IngestFleet.ModelTools;

/// <summary>
/// A copy of an ONNX model that computes the way an FP16 accelerator does, on the CPU EP: every float weight rounded
/// to half precision, and every float activation rounded to half precision after the node that produced it (a Cast to
/// float16 and back). The Neural Engine and Core ML's GPU path compute in FP16, so the golden pack's error on this copy
/// estimates the error a healthy Core ML node shows, and sets the Core ML tolerance (see <c>GoldenSpec</c>).
/// </summary>
public static class Fp16Simulation
{
    private const int FloatType = 1;
    private const int Float16Type = 10;

    public static ModelProto Apply(ModelProto source)
    {
        var model = source.Clone();
        var graph = model.Graph;
        var isFloat = new Dictionary<string, bool>(StringComparer.Ordinal);
        foreach (var input in graph.Input) isFloat[input.Name] = input.Type?.TensorType?.ElemType == FloatType;
        foreach (var init in graph.Initializer)
        {
            isFloat[init.Name] = init.DataType == FloatType;
            if (init.DataType == FloatType) RoundToHalf(init);
        }

        var nodes = graph.Node.ToList();
        graph.Node.Clear();
        foreach (var node in nodes)
        {
            graph.Node.Add(node);
            for (var i = 0; i < node.Output.Count; i++)
            {
                var name = node.Output[i];
                var floatOut = OutputIsFloat(node, i, n => isFloat.GetValueOrDefault(n));
                isFloat[name] = floatOut;
                if (!floatOut) continue;
                var raw = name + "__fp32";
                var half = name + "__fp16";
                node.Output[i] = raw;
                graph.Node.Add(Cast(raw, half, Float16Type, node.Name + "__to_fp16"));
                graph.Node.Add(Cast(half, name, FloatType, node.Name + "__to_fp32"));
            }
        }
        return model;
    }

    /// <summary>Whether a node's output is a float tensor, from the operator's type rules (onnx/docs/Operators.md):
    /// comparisons, logic, index and shape operators give bool or int64; Cast, Constant and ConstantOfShape say so in
    /// an attribute; Where takes its type from its second input; the rest from their first (data) input.</summary>
    internal static bool OutputIsFloat(NodeProto node, int output, Func<string, bool> isFloat)
    {
        switch (node.OpType)
        {
            case "Shape" or "Size" or "Equal" or "Less" or "Greater" or "LessOrEqual" or "GreaterOrEqual" or "And" or "Or" or "Not" or "Xor"
                or "ArgMax" or "ArgMin" or "NonZero" or "IsNaN" or "IsInf" or "NonMaxSuppression" or "BitShift":
                return false;
            case "TopK":
                return output == 0 && node.Input.Count > 0 && isFloat(node.Input[0]); // values, then int64 indices
            case "Cast":
                return node.Attribute.FirstOrDefault(a => a.Name == "to")?.I == FloatType;
            case "Constant":
                return node.Attribute.FirstOrDefault(a => a.Name == "value")?.T?.DataType == FloatType;
            case "ConstantOfShape":
                return node.Attribute.FirstOrDefault(a => a.Name == "value")?.T is not { } t || t.DataType == FloatType; // default: float 0
            case "Where":
                return node.Input.Count > 1 && isFloat(node.Input[1]);
            default:
                return node.Input.Count > 0 && isFloat(node.Input[0]);
        }
    }

    private static NodeProto Cast(string input, string output, int to, string name)
    {
        var node = new NodeProto { OpType = "Cast", Name = name };
        node.Input.Add(input);
        node.Output.Add(output);
        node.Attribute.Add(new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = to });
        return node;
    }

    private static void RoundToHalf(TensorProto tensor)
    {
        if (tensor.RawData.Length > 0)
        {
            var values = MemoryMarshal.Cast<byte, float>(tensor.RawData.Span).ToArray();
            for (var i = 0; i < values.Length; i++) values[i] = (float)(Half)values[i];
            tensor.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
        }
        else
        {
            for (var i = 0; i < tensor.FloatData.Count; i++) tensor.FloatData[i] = (float)(Half)tensor.FloatData[i];
        }
    }
}

/// <summary>The golden pack's worst cosine distance when the model computes in FP16 (see <see cref="Fp16Simulation"/>).</summary>
public static class Fp16GoldenCheck
{
    public static double WorstDistance(IngestFleet.Embedding.Models.ModelManifest manifest)
    {
        var dir = Directory.CreateTempSubdirectory("ingestfleet-fp16-").FullName;
        try
        {
            ModelProto model;
            using (var input = File.OpenRead(manifest.OnnxPath)) model = ModelProto.Parser.ParseFrom(input);
            var onnx = Path.Combine(dir, "model-fp16-sim.onnx");
            using (var output = File.Create(onnx)) Fp16Simulation.Apply(model).WriteTo(output);
            var copy = manifest with
            {
                Onnx = new IngestFleet.Embedding.Models.OnnxFileSpec { File = "model-fp16-sim.onnx", Sha256 = IngestFleet.Embedding.Models.ManifestLoader.Sha256Of(onnx) },
                Golden = manifest.Golden with { File = Path.GetFullPath(manifest.GoldenPath) },
                Directory = dir,
            };
            using var embedder = IngestFleet.Embedding.Inference.Embedder.Load(copy, new IngestFleet.Embedding.Inference.EmbedderOptions
            {
                ExecutionProvider = IngestFleet.Embedding.Inference.ExecutionProvider.Cpu, VerifyGoldenPack = false, IntraOpThreads = 2,
            });
            var pack = IngestFleet.Embedding.Models.GoldenPack.Read(manifest.GoldenPath);
            return pack.WorstCosineDistance(embedder.RunRaw(pack.Inputs, pack.Count));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
