using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace IngestFleet.ModelTools;

/// <summary>Small helper over the ONNX protobuf classes: initializers, nodes and the common transformer ops.</summary>
internal sealed class OnnxGraphBuilder(string graphName)
{
    private const int FloatType = 1;
    private const int Int64Type = 7;
    private int _next;

    public GraphProto Graph { get; } = new() { Name = graphName };

    public string Fresh(string hint) => $"{hint}_{_next++}";

    public string Weight(string name, float[] data, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = FloatType, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(data.AsSpan())) };
        t.Dims.AddRange(dims);
        Graph.Initializer.Add(t);
        return name;
    }

    public string Int64s(string name, params long[] values)
    {
        var t = new TensorProto { Name = name, DataType = Int64Type, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())) };
        t.Dims.Add(values.Length);
        Graph.Initializer.Add(t);
        return name;
    }

    public string Scalar(string name, float value)
    {
        var t = new TensorProto { Name = name, DataType = FloatType, RawData = ByteString.CopyFrom(BitConverter.GetBytes(value)) };
        Graph.Initializer.Add(t);
        return name;
    }

    public string Op(string opType, string[] inputs, params AttributeProto[] attributes)
    {
        var output = Fresh(opType.ToLowerInvariant());
        var node = new NodeProto { OpType = opType, Name = Fresh("n_" + opType) };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        node.Attribute.AddRange(attributes);
        Graph.Node.Add(node);
        return output;
    }

    public void Rename(string from, string to)
    {
        foreach (var n in Graph.Node)
            for (var i = 0; i < n.Output.Count; i++)
                if (n.Output[i] == from) n.Output[i] = to;
    }

    /// <summary>The graph as a model file of <paramref name="opset"/>, marked as forged.</summary>
    public ModelProto ToModel(int opset, string docString)
    {
        var model = new ModelProto
        {
            IrVersion = 8,
            ProducerName = "ingestfleet models forge",
            ProducerVersion = typeof(OnnxGraphBuilder).Assembly.GetName().Version?.ToString(3) ?? "0",
            Domain = "ingestfleet.forge",
            DocString = docString,
            Graph = Graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        return model;
    }

    public static AttributeProto Int(string name, long v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = v };
    public static AttributeProto Float(string name, float v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = v };
    public static AttributeProto Ints(string name, params long[] v)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(v);
        return a;
    }

    public string Add(string a, string b) => Op("Add", [a, b]);
    public string Mul(string a, string b) => Op("Mul", [a, b]);
    public string MatMul(string a, string b) => Op("MatMul", [a, b]);
    public string Linear(string x, string w, string b) => Add(MatMul(x, w), b);
    public string Reshape(string x, string shape) => Op("Reshape", [x, shape]);
    public string Transpose(string x, params long[] perm) => Op("Transpose", [x], Ints("perm", perm));
    public string LayerNorm(string x, string scale, string bias) =>
        Op("LayerNormalization", [x, scale, bias], Int("axis", -1), Float("epsilon", 1e-5f));

    public static ValueInfoProto TensorInfo(string name, params object[] dims) => TensorInfoOf(FloatType, name, dims);

    /// <summary>An int64 tensor's declaration (token ids).</summary>
    public static ValueInfoProto Int64TensorInfo(string name, params object[] dims) => TensorInfoOf(Int64Type, name, dims);

    private static ValueInfoProto TensorInfoOf(int elemType, string name, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d is string p ? new TensorShapeProto.Types.Dimension { DimParam = p } : new TensorShapeProto.Types.Dimension { DimValue = Convert.ToInt64(d, System.Globalization.CultureInfo.InvariantCulture) });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = elemType, Shape = shape } } };
    }
}
