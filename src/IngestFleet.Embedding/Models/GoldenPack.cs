using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using IngestFleet.Embedding.Inference;

namespace IngestFleet.Embedding.Models;

/// <summary>
/// Fixed input tensors and the outputs the CPU execution provider gave for them when the revision was made.
/// File layout (little-endian): 8-byte magic "IFGOLD01", int32 header length, UTF-8 JSON header
/// {count, input_shape, output_shape, ep, ort_version, revision}, then the inputs and outputs as float32.
/// </summary>
public sealed class GoldenPack
{
    private static readonly byte[] Magic = "IFGOLD01"u8.ToArray();

    public required int Count { get; init; }
    public required long[] InputShape { get; init; }
    public required long[] OutputShape { get; init; }
    public required float[] Inputs { get; init; }
    public required float[] Outputs { get; init; }
    public string Ep { get; init; } = "cpu";
    public string OrtVersion { get; init; } = "";
    public string Revision { get; init; } = "";

    public int OutputDim => (int)OutputShape[1];

    public void Write(string path)
    {
        var header = JsonSerializer.SerializeToUtf8Bytes(new
        {
            count = Count, input_shape = InputShape, output_shape = OutputShape, ep = Ep, ort_version = OrtVersion, revision = Revision,
        });
        using var f = File.Create(path);
        f.Write(Magic);
        Span<byte> len = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(len, header.Length);
        f.Write(len);
        f.Write(header);
        f.Write(MemoryMarshal.AsBytes(Inputs.AsSpan()));
        f.Write(MemoryMarshal.AsBytes(Outputs.AsSpan()));
    }

    public static GoldenPack Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 12 || !bytes.AsSpan(0, 8).SequenceEqual(Magic))
            throw new ModelManifestException($"{path}: not a golden pack (magic IFGOLD01 missing).");
        var headerLength = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(8, 4));
        using var doc = JsonDocument.Parse(Encoding.UTF8.GetString(bytes, 12, headerLength));
        var root = doc.RootElement;
        long[] Shape(string name) => root.GetProperty(name).EnumerateArray().Select(e => e.GetInt64()).ToArray();
        var inShape = Shape("input_shape");
        var outShape = Shape("output_shape");
        var inCount = (int)inShape.Aggregate(1L, (a, b) => a * b);
        var outCount = (int)outShape.Aggregate(1L, (a, b) => a * b);
        var offset = 12 + headerLength;
        if (bytes.Length != offset + 4L * (inCount + outCount))
            throw new ModelManifestException($"{path}: golden pack is {bytes.Length} bytes, its header promises {offset + 4L * (inCount + outCount)}.");
        return new GoldenPack
        {
            Count = root.GetProperty("count").GetInt32(), InputShape = inShape, OutputShape = outShape,
            Inputs = MemoryMarshal.Cast<byte, float>(bytes.AsSpan(offset, 4 * inCount)).ToArray(),
            Outputs = MemoryMarshal.Cast<byte, float>(bytes.AsSpan(offset + 4 * inCount, 4 * outCount)).ToArray(),
            Ep = root.GetProperty("ep").GetString() ?? "", OrtVersion = root.GetProperty("ort_version").GetString() ?? "",
            Revision = root.GetProperty("revision").GetString() ?? "",
        };
    }

    /// <summary>Worst cosine distance (1 − cos) between the recorded outputs and <paramref name="actual"/>.</summary>
    public double WorstCosineDistance(ReadOnlySpan<float> actual)
    {
        if (actual.Length != Outputs.Length)
            return double.PositiveInfinity;
        var worst = 0.0;
        var d = OutputDim;
        for (var i = 0; i < Count; i++)
        {
            var dist = 1.0 - VectorMath.Cosine(Outputs.AsSpan(i * d, d), actual.Slice(i * d, d));
            if (!(dist <= worst)) worst = double.IsNaN(dist) ? double.PositiveInfinity : dist;
        }
        return worst;
    }
}
