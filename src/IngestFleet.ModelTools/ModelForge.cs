using System.Text.Json;
using Google.Protobuf;
using Onnx;
using IngestFleet.Embedding.Models;
using IngestFleet.Embedding.Preprocessing;
using static IngestFleet.ModelTools.OnnxGraphBuilder;

namespace IngestFleet.ModelTools;

/// <summary>Architecture of a forged ViT image tower.</summary>
public sealed record ForgeOptions
{
    public ModelFamily Family { get; init; } = ModelFamily.Clip;
    public int Width { get; init; } = 128;
    public int Layers { get; init; } = 2;
    public int Heads { get; init; } = 4;
    public int Patch { get; init; } = 32;
    public int ImageSize { get; init; } = 224;
    public int OutputDim { get; init; } = 512;
    public int MlpRatio { get; init; } = 4;
    public ulong Seed { get; init; } = 1;
    public string Revision { get; init; } = "";
    public int GoldenCount { get; init; } = 3;

    public string EffectiveRevision => Revision.Length > 0
        ? Revision
        : $"{(Family == ModelFamily.Clip ? "clip" : "siglip")}-w{Width}-l{Layers}-p{Patch}-d{OutputDim}-s{Seed}";

    public void Validate()
    {
        if (Width <= 0 || Heads <= 0 || Width % Heads != 0) throw new ArgumentException($"--width ({Width}) must be a positive multiple of --heads ({Heads}).");
        if (Layers < 1) throw new ArgumentException("--layers must be at least 1.");
        if (Patch < 1 || ImageSize % Patch != 0) throw new ArgumentException($"--image-size ({ImageSize}) must be a multiple of --patch ({Patch}).");
        if (OutputDim is not (512 or 768)) throw new ArgumentException("--dim must be 512 or 768.");
    }
}

/// <summary>
/// Writes a real ViT image tower as ONNX with deterministic seeded weights, plus its manifest and golden pack.
/// CLIP: patch conv (no bias), class token, positional embedding, pre-LN, pre-LN blocks with QuickGELU MLP,
/// final LN on the class token, projection. SigLIP: patch conv with bias, no class token, blocks with tanh-GELU,
/// post-LN, attention-pooling head (probe + MHA + LN + MLP), then a projection when width ≠ output dim.
/// </summary>
public static class ModelForge
{
    public const int Opset = 17;
    public const string InputName = "pixel_values";
    public const string OutputName = "image_embeds";

    public static ModelProto Build(ForgeOptions o)
    {
        o.Validate();
        var rng = new SeededRandom(o.Seed);
        var g = new OnnxGraphBuilder(o.EffectiveRevision);
        int w = o.Width, grid = o.ImageSize / o.Patch, tokens = grid * grid, hd = w / o.Heads;
        var clip = o.Family == ModelFamily.Clip;

        float[] Ones(int n) => Enumerable.Repeat(1f, n).ToArray();
        float[] Zeros(int n) => new float[n];
        string Lin(string name, int fin, int fout) => g.Weight(name, rng.Normal(fin * fout, 1.0 / Math.Sqrt(fin)), fin, fout);
        string Bias(string name, int n) => g.Weight(name, rng.Normal(n, 0.02), n);

        // Patch embedding: Conv → [N, w, grid, grid] → [N, tokens, w]
        var convW = g.Weight("patch.weight", rng.Normal(w * 3 * o.Patch * o.Patch, 1.0 / Math.Sqrt(3 * o.Patch * o.Patch)), w, 3, o.Patch, o.Patch);
        string[] convInputs = clip ? [InputName, convW] : [InputName, convW, Bias("patch.bias", w)];
        var x = g.Op("Conv", convInputs, Ints("kernel_shape", o.Patch, o.Patch), Ints("strides", o.Patch, o.Patch));
        x = g.Transpose(g.Reshape(x, g.Int64s("shape.tokens", 0, w, -1)), 0, 2, 1);

        // batch-sized shapes for broadcasting learned tokens: [N, 1, w]
        var batch = g.Op("Slice", [g.Op("Shape", [InputName]), g.Int64s("slice.start", 0), g.Int64s("slice.end", 1)]);
        var batchByOneByW = g.Op("Concat", [batch, g.Int64s("one.w", 1, w)], Int("axis", 0));

        if (clip)
        {
            var cls = g.Op("Expand", [g.Weight("class_embedding", rng.Normal(w, 0.02), 1, 1, w), batchByOneByW]);
            x = g.Op("Concat", [cls, x], Int("axis", 1));
            tokens += 1;
        }
        x = g.Add(x, g.Weight("position_embedding", rng.Normal(tokens * w, 0.02), 1, tokens, w));
        if (clip) x = g.LayerNorm(x, g.Weight("pre_ln.weight", Ones(w), w), g.Weight("pre_ln.bias", Zeros(w), w));

        var headShape = g.Int64s("shape.heads", 0, 0, o.Heads, hd);
        var mergeShape = g.Int64s("shape.merge", 0, 0, w);
        var scale = g.Scalar("attn.scale", (float)(1.0 / Math.Sqrt(hd)));
        // CLIP (OpenAI) uses QuickGELU x·σ(1.702x); SigLIP uses the tanh approximation of GELU.
        string[] k = clip
            ? [g.Scalar("const.quick_gelu", 1.702f)]
            : [g.Scalar("const.half", 0.5f), g.Scalar("const.one", 1f), g.Scalar("const.gelu_tanh_k", (float)Math.Sqrt(2 / Math.PI)), g.Scalar("const.gelu_tanh_c", 0.044715f)];

        string Act(string v) => clip
            ? g.Mul(v, g.Op("Sigmoid", [g.Mul(v, k[0])]))
            : g.Mul(g.Mul(v, k[0]), g.Add(k[1], g.Op("Tanh", [g.Mul(k[2], g.Add(v, g.Mul(k[3], g.Mul(v, g.Mul(v, v)))))])));

        string Attention(string p, string q, string kv)
        {
            string Heads(string t, params long[] perm) => g.Transpose(g.Reshape(t, headShape), perm);
            var qh = Heads(g.Linear(q, Lin($"{p}.q.weight", w, w), Bias($"{p}.q.bias", w)), 0, 2, 1, 3);
            var kh = Heads(g.Linear(kv, Lin($"{p}.k.weight", w, w), Bias($"{p}.k.bias", w)), 0, 2, 3, 1);
            var vh = Heads(g.Linear(kv, Lin($"{p}.v.weight", w, w), Bias($"{p}.v.bias", w)), 0, 2, 1, 3);
            var probs = g.Op("Softmax", [g.Mul(g.MatMul(qh, kh), scale)], Int("axis", -1));
            var ctx = g.Reshape(g.Transpose(g.MatMul(probs, vh), 0, 2, 1, 3), mergeShape);
            return g.Linear(ctx, Lin($"{p}.out.weight", w, w), Bias($"{p}.out.bias", w));
        }

        string Mlp(string p, string v) =>
            g.Linear(Act(g.Linear(v, Lin($"{p}.fc1.weight", w, w * o.MlpRatio), Bias($"{p}.fc1.bias", w * o.MlpRatio))),
                Lin($"{p}.fc2.weight", w * o.MlpRatio, w), Bias($"{p}.fc2.bias", w));

        string Ln(string p, string v) => g.LayerNorm(v, g.Weight($"{p}.weight", Ones(w), w), g.Weight($"{p}.bias", Zeros(w), w));

        for (var l = 0; l < o.Layers; l++)
        {
            var h = Ln($"layer{l}.ln1", x);
            x = g.Add(x, Attention($"layer{l}.attn", h, h));
            x = g.Add(x, Mlp($"layer{l}.mlp", Ln($"layer{l}.ln2", x)));
        }

        string pooled;
        var first = g.Int64s("index.first", 0);
        if (clip)
        {
            pooled = Ln("post_ln", g.Op("Gather", [x, first], Int("axis", 1)));
            pooled = g.Reshape(pooled, g.Int64s("shape.pooled", 0, w));
        }
        else
        {
            x = Ln("post_ln", x);
            var probe = g.Op("Expand", [g.Weight("head.probe", rng.Normal(w, 0.02), 1, 1, w), batchByOneByW]);
            var attended = Attention("head.attn", probe, x);
            var pooledTokens = g.Add(attended, Mlp("head.mlp", Ln("head.ln", attended)));
            pooled = g.Reshape(g.Op("Gather", [pooledTokens, first], Int("axis", 1)), g.Int64s("shape.pooled", 0, w));
        }
        var output = clip || o.OutputDim != w ? g.MatMul(pooled, Lin("projection", w, o.OutputDim)) : g.Op("Identity", [pooled]);
        g.Rename(output, OutputName);

        g.Graph.Input.Add(TensorInfo(InputName, "batch", 3, o.ImageSize, o.ImageSize));
        g.Graph.Output.Add(TensorInfo(OutputName, "batch", o.OutputDim));
        var model = new ModelProto
        {
            IrVersion = 8,
            ProducerName = "ingestfleet models forge",
            ProducerVersion = typeof(ModelForge).Assembly.GetName().Version?.ToString(3) ?? "0",
            Domain = "ingestfleet.forge",
            DocString = $"Random-weight {o.Family} ViT image tower (seed {o.Seed}); a stand-in, not a trained model.",
            Graph = g.Graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        return model;
    }

    /// <summary>Writes model.onnx, golden.bin and manifest.json into <paramref name="directory"/>; returns the manifest.</summary>
    public static ModelManifest Forge(ForgeOptions o, string directory, double epsilon = 1e-4)
    {
        System.IO.Directory.CreateDirectory(directory);
        var onnxPath = Path.Combine(directory, "model.onnx");
        using (var file = File.Create(onnxPath))
            Build(o).WriteTo(file);

        var manifest = new ModelManifest
        {
            Family = o.Family,
            Revision = o.EffectiveRevision,
            Onnx = new OnnxFileSpec { File = "model.onnx", Sha256 = ManifestLoader.Sha256Of(onnxPath) },
            Input = new TensorSpec { Name = InputName, Shape = Dims("batch", 3, o.ImageSize, o.ImageSize) },
            Output = new TensorSpec { Name = OutputName, Shape = Dims("batch", o.OutputDim) },
            OutputDimension = o.OutputDim,
            Preprocess = o.Family == ModelFamily.Clip ? PreprocessContracts.Clip(o.ImageSize) : PreprocessContracts.SigLip(o.ImageSize),
            L2Normalize = true,
            Provenance = new Provenance
            {
                Exporter = $"ingestfleet models forge {typeof(ModelForge).Assembly.GetName().Version?.ToString(3)}",
                Opset = Opset,
                DynamicAxes = new() { [InputName] = [0], [OutputName] = [0] },
                Notes = "Deterministic random weights: a stand-in with the real architecture, not a trained model.",
                Architecture = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(JsonSerializer.Serialize(new
                {
                    width = o.Width, layers = o.Layers, heads = o.Heads, patch = o.Patch, image_size = o.ImageSize,
                    mlp_ratio = o.MlpRatio, seed = o.Seed,
                })),
            },
            Golden = new GoldenSpec { File = "golden.bin", Epsilon = epsilon },
            Directory = Path.GetFullPath(directory),
            ManifestPath = Path.GetFullPath(Path.Combine(directory, "manifest.json")),
        };
        GoldenPackBuilder.Create(manifest, o.GoldenCount, o.Seed ^ 0x601DE4UL).Write(manifest.GoldenPath);
        File.WriteAllText(manifest.ManifestPath, JsonSerializer.Serialize(manifest, ManifestJson.Options) + "\n");
        return ManifestLoader.Load(manifest.ManifestPath);
    }

    private static List<JsonElement> Dims(params object[] dims) => dims.Select(d => JsonSerializer.SerializeToElement(d)).ToList();
}
