namespace IngestFleet.Embedding.Inference;

public static class VectorMath
{
    public static double Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double dot = 0, na = 0, nb = 0;
        for (var i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }
        return dot / (Math.Sqrt(na) * Math.Sqrt(nb));
    }

    public static double Norm(ReadOnlySpan<float> v)
    {
        double s = 0;
        foreach (var x in v) s += (double)x * x;
        return Math.Sqrt(s);
    }

    /// <summary>Scales <paramref name="v"/> to unit length in place; returns its former norm (a zero or non-finite
    /// vector is left as it is).</summary>
    public static double Normalize(Span<float> v)
    {
        var norm = Norm(v);
        if (norm > 1e-12 && double.IsFinite(norm))
        {
            var inv = (float)(1.0 / norm);
            for (var i = 0; i < v.Length; i++) v[i] *= inv;
        }
        return norm;
    }
}
