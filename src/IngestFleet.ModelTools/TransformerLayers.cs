using static IngestFleet.ModelTools.OnnxGraphBuilder;

namespace IngestFleet.ModelTools;

/// <summary>
/// The transformer parts both towers of both families share, with seeded weights: multi-head attention (with an
/// optional additive mask), the MLP with its activation (QuickGELU x·σ(1.702x) for CLIP, tanh-GELU for SigLIP) and
/// layer norms. Weights are drawn from <paramref name="rng"/> in call order, so a tower's bytes depend only on its seed.
/// Creating it adds the shared constants to the graph (head shapes, the attention scale, the activation's constants).
/// </summary>
internal sealed class TransformerLayers
{
    private readonly OnnxGraphBuilder _g;
    private readonly SeededRandom _rng;
    private readonly int _w;
    private readonly int _mlpRatio;
    private readonly bool _quickGelu;
    private readonly string _headShape;
    private readonly string _mergeShape;
    private readonly string _scale;
    private readonly string[] _k;

    public TransformerLayers(OnnxGraphBuilder g, SeededRandom rng, int width, int heads, int mlpRatio, bool quickGelu, string prefix = "")
    {
        _g = g;
        _rng = rng;
        _w = width;
        _mlpRatio = mlpRatio;
        _quickGelu = quickGelu;
        var hd = width / heads;
        _headShape = g.Int64s(prefix + "shape.heads", 0, 0, heads, hd);
        _mergeShape = g.Int64s(prefix + "shape.merge", 0, 0, width);
        _scale = g.Scalar(prefix + "attn.scale", (float)(1.0 / Math.Sqrt(hd)));
        _k = quickGelu
            ? [g.Scalar(prefix + "const.quick_gelu", 1.702f)]
            : [g.Scalar(prefix + "const.half", 0.5f), g.Scalar(prefix + "const.one", 1f), g.Scalar(prefix + "const.gelu_tanh_k", (float)Math.Sqrt(2 / Math.PI)), g.Scalar(prefix + "const.gelu_tanh_c", 0.044715f)];
    }

    /// <summary>A [fin, fout] weight drawn with std 1/√fin.</summary>
    public static string Lin(OnnxGraphBuilder g, SeededRandom rng, string name, int fin, int fout) =>
        g.Weight(name, rng.Normal(fin * fout, 1.0 / Math.Sqrt(fin)), fin, fout);

    /// <summary>A bias (or learned token) of <paramref name="n"/> values drawn with std 0.02.</summary>
    public static string Bias(OnnxGraphBuilder g, SeededRandom rng, string name, int n) => g.Weight(name, rng.Normal(n, 0.02), n);

    public string Lin(string name, int fin, int fout) => Lin(_g, _rng, name, fin, fout);
    public string Bias(string name, int n) => Bias(_g, _rng, name, n);

    public string Act(string v) => _quickGelu
        ? _g.Mul(v, _g.Op("Sigmoid", [_g.Mul(v, _k[0])]))
        : _g.Mul(_g.Mul(v, _k[0]), _g.Add(_k[1], _g.Op("Tanh", [_g.Mul(_k[2], _g.Add(v, _g.Mul(_k[3], _g.Mul(v, _g.Mul(v, v)))))])));

    /// <param name="mask">Added to the attention scores before the softmax ([seq, seq], 0 or a large negative), or null.</param>
    public string Attention(string p, string q, string kv, string? mask = null)
    {
        string Heads(string t, params long[] perm) => _g.Transpose(_g.Reshape(t, _headShape), perm);
        var qh = Heads(_g.Linear(q, Lin($"{p}.q.weight", _w, _w), Bias($"{p}.q.bias", _w)), 0, 2, 1, 3);
        var kh = Heads(_g.Linear(kv, Lin($"{p}.k.weight", _w, _w), Bias($"{p}.k.bias", _w)), 0, 2, 3, 1);
        var vh = Heads(_g.Linear(kv, Lin($"{p}.v.weight", _w, _w), Bias($"{p}.v.bias", _w)), 0, 2, 1, 3);
        var scores = _g.Mul(_g.MatMul(qh, kh), _scale);
        if (mask is not null) scores = _g.Add(scores, mask);
        var probs = _g.Op("Softmax", [scores], Int("axis", -1));
        var ctx = _g.Reshape(_g.Transpose(_g.MatMul(probs, vh), 0, 2, 1, 3), _mergeShape);
        return _g.Linear(ctx, Lin($"{p}.out.weight", _w, _w), Bias($"{p}.out.bias", _w));
    }

    public string Mlp(string p, string v) =>
        _g.Linear(Act(_g.Linear(v, Lin($"{p}.fc1.weight", _w, _w * _mlpRatio), Bias($"{p}.fc1.bias", _w * _mlpRatio))),
            Lin($"{p}.fc2.weight", _w * _mlpRatio, _w), Bias($"{p}.fc2.bias", _w));

    public string Ln(string p, string v) =>
        _g.LayerNorm(v, _g.Weight($"{p}.weight", Enumerable.Repeat(1f, _w).ToArray(), _w), _g.Weight($"{p}.bias", new float[_w], _w));

    /// <summary>Pre-LN blocks: x + attention(LN(x)), then x + MLP(LN(x)).</summary>
    public string Blocks(string x, int layers, string prefix = "", string? mask = null)
    {
        for (var l = 0; l < layers; l++)
        {
            var h = Ln($"{prefix}layer{l}.ln1", x);
            x = _g.Add(x, Attention($"{prefix}layer{l}.attn", h, h, mask));
            x = _g.Add(x, Mlp($"{prefix}layer{l}.mlp", Ln($"{prefix}layer{l}.ln2", x)));
        }
        return x;
    }
}
