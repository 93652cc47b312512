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
    /// <summary>Also forge the family's text tower (tokenizer files, text.onnx, text golden pack).</summary>
    public bool Text { get; init; } = true;
    /// <summary>Give the text graph an <c>attention_mask</c> input as well, as Optimum's text exports have (the tokens
    /// are multiplied by it, which leaves CLIP's end-of-text pooling unchanged).</summary>
    public bool TextAttentionMask { get; init; }

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
        int w = o.Width, grid = o.ImageSize / o.Patch, tokens = grid * grid;
        var clip = o.Family == ModelFamily.Clip;

        float[] Ones(int n) => Enumerable.Repeat(1f, n).ToArray();
        float[] Zeros(int n) => new float[n];
        string Lin(string name, int fin, int fout) => TransformerLayers.Lin(g, rng, name, fin, fout);
        string Bias(string name, int n) => TransformerLayers.Bias(g, rng, name, n);

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

        var t = new TransformerLayers(g, rng, w, o.Heads, o.MlpRatio, quickGelu: clip);
        x = t.Blocks(x, o.Layers);

        string pooled;
        var first = g.Int64s("index.first", 0);
        if (clip)
        {
            pooled = t.Ln("post_ln", g.Op("Gather", [x, first], Int("axis", 1)));
            pooled = g.Reshape(pooled, g.Int64s("shape.pooled", 0, w));
        }
        else
        {
            x = t.Ln("post_ln", x);
            var probe = g.Op("Expand", [g.Weight("head.probe", rng.Normal(w, 0.02), 1, 1, w), batchByOneByW]);
            var attended = t.Attention("head.attn", probe, x);
            var pooledTokens = g.Add(attended, t.Mlp("head.mlp", t.Ln("head.ln", attended)));
            pooled = g.Reshape(g.Op("Gather", [pooledTokens, first], Int("axis", 1)), g.Int64s("shape.pooled", 0, w));
        }
        var output = clip || o.OutputDim != w ? g.MatMul(pooled, Lin("projection", w, o.OutputDim)) : g.Op("Identity", [pooled]);
        g.Rename(output, OutputName);

        g.Graph.Input.Add(TensorInfo(InputName, "batch", 3, o.ImageSize, o.ImageSize));
        g.Graph.Output.Add(TensorInfo(OutputName, "batch", o.OutputDim));
        return g.ToModel(Opset, $"Random-weight {o.Family} ViT image tower (seed {o.Seed}); a stand-in, not a trained model.");
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
        if (o.Text)
        {
            manifest = manifest with { Text = TextForge.Forge(o, directory) };
            TextForge.WriteGoldenPack(manifest);
        }
        File.WriteAllText(manifest.ManifestPath, JsonSerializer.Serialize(manifest, ManifestJson.Options) + "\n");
        return ManifestLoader.Load(manifest.ManifestPath);
    }

    private static List<JsonElement> Dims(params object[] dims) => dims.Select(d => JsonSerializer.SerializeToElement(d)).ToList();
}
