using System.Text.Json;
using System.Text.Json.Serialization;

namespace IngestFleet.VectorStore;

/// <summary>The element type vectors leave in: <c>f32</c> (as stored), <c>f16</c> (IEEE half) or <c>i8</c> (signed
/// bytes with a scale).</summary>
public enum VectorDtype
{
    F32,
    F16,
    I8,
}

/// <summary>How i8 values map back to floats: one scale for every dimension (<c>global</c>; cosine and inner-product
/// rankings are unchanged by it, so ANN indexes can use the bytes as they are) or one per dimension
/// (<c>per_dimension</c>; each dimension uses its full range, but the quantised vectors must be rescaled before any
/// distance).</summary>
public enum I8Scale
{
    Global,
    PerDimension,
}

/// <summary>
/// The scale written beside an i8 export (<c>FILE.scale.json</c>, and as <c>scale.npy</c> inside an .npz): symmetric
/// quantisation, <c>q = clamp(round(x / scale[d]), -127, 127)</c> and back <c>x ≈ q × scale[d]</c>, where
/// <c>scale[d] = max over vectors of |x[d]| / 127</c> per dimension, or the one largest |x| / 127 for every
/// dimension (global: the array holds the same value <c>dim</c> times).
/// </summary>
public sealed record I8ScaleFile
{
    public string Dtype { get; init; } = "i8";
    public string Scheme { get; init; } = "symmetric";
    public string Granularity { get; init; } = "global";
    public string Dequantize { get; init; } = "x = q * scale[d]";
    public int Dimension { get; init; }
    public IReadOnlyList<float> Scale { get; init; } = [];

    public static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };
}

public static class VectorQuantization
{
    public static VectorDtype ParseDtype(string s) => s switch
    {
        "f32" => VectorDtype.F32,
        "f16" => VectorDtype.F16,
        "i8" => VectorDtype.I8,
        _ => throw new ArgumentException($"dtype '{s}': use f32, f16 or i8", nameof(s)),
    };

    public static string Name(this VectorDtype d) => d switch { VectorDtype.F16 => "f16", VectorDtype.I8 => "i8", _ => "f32" };

    public static int BytesPerElement(this VectorDtype d) => d switch { VectorDtype.F16 => 2, VectorDtype.I8 => 1, _ => 4 };

    /// <summary>The i8 scale of a set of vectors (see <see cref="I8ScaleFile"/>); a dimension that is zero everywhere
    /// gets scale 1 (its values quantise to 0 either way).</summary>
    public static float[] I8Scales(IReadOnlyList<float[]> vectors, I8Scale granularity)
    {
        var dim = vectors.Count == 0 ? 0 : vectors[0].Length;
        var max = new float[dim];
        foreach (var v in vectors)
            for (var d = 0; d < dim; d++)
                max[d] = Math.Max(max[d], Math.Abs(v[d]));
        if (granularity == I8Scale.Global)
            Array.Fill(max, dim == 0 ? 0 : max.Max());
        return max.Select(m => m > 0 ? m / 127f : 1f).ToArray();
    }

    public static sbyte[] ToI8(ReadOnlySpan<float> v, ReadOnlySpan<float> scale)
    {
        var q = new sbyte[v.Length];
        for (var d = 0; d < v.Length; d++)
            q[d] = (sbyte)Math.Clamp(MathF.Round(v[d] / scale[d], MidpointRounding.ToEven), -127f, 127f);
        return q;
    }

    public static float[] FromI8(ReadOnlySpan<sbyte> q, ReadOnlySpan<float> scale)
    {
        var v = new float[q.Length];
        for (var d = 0; d < q.Length; d++) v[d] = q[d] * scale[d];
        return v;
    }

    public static Half[] ToF16(ReadOnlySpan<float> v)
    {
        var h = new Half[v.Length];
        for (var d = 0; d < v.Length; d++) h[d] = (Half)v[d];
        return h;
    }

    /// <summary>What a vector becomes after a round trip through <paramref name="dtype"/> (for exact search over the
    /// quantised values).</summary>
    public static float[] RoundTrip(float[] v, VectorDtype dtype, float[]? scale) => dtype switch
    {
        VectorDtype.F16 => ToF16(v).Select(h => (float)h).ToArray(),
        VectorDtype.I8 => FromI8(ToI8(v, scale!), scale!),
        _ => v,
    };
}
