using System.Buffers;
using System.Runtime.InteropServices;
using IngestFleet.Contracts;
using IngestFleet.Embedding.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;

namespace IngestFleet.Embedding.Inference;

/// <summary>One image's vector (L2-normalised when the manifest says so) or the reason it has none.</summary>
public readonly record struct EmbeddingResult(float[]? Vector, double Norm, Rejection? Rejection)
{
    public bool Ok => Vector is not null;
}

/// <summary>
/// Serves one model revision. Holds a single <see cref="InferenceSession"/>: ORT's Run is thread-safe, so all
/// threads share it (one session per revision, no pool: a pool would multiply weights in memory and thread pools).
/// Loading verifies the ONNX file's SHA-256 and runs the golden pack on the chosen EP before anything is served.
/// </summary>
public sealed class Embedder : IDisposable
{
    /// <summary>Core ML's second, small fixed-shape session: calls of this many images or fewer (an online job alone, a
    /// short batch) run on it instead of being padded to the full fixed batch.</summary>
    public const int DefaultCoreMLSmallBatch = 2;

    private readonly InferenceSession _session;
    private InferenceSession? _small;
    private readonly RunOptions _runOptions = new() { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING };
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;
    private readonly int _imageLength;

    private Embedder(ModelManifest manifest, ExecutionProvider ep, EmbedderOptions options, InferenceSession session, PlacementReport placement, int fixedBatch)
    {
        Manifest = manifest;
        ExecutionProvider = ep;
        Options = options;
        _session = session;
        Placement = placement;
        FixedBatch = fixedBatch;
        _inputNames = [manifest.Input.Name];
        _outputNames = [manifest.Output.Name];
        _imageLength = 3 * manifest.Preprocess.Size * manifest.Preprocess.Size;
    }

    public ModelManifest Manifest { get; }
    /// <summary>The EP actually serving: cpu, cuda or coreml (never auto).</summary>
    public ExecutionProvider ExecutionProvider { get; }
    public EmbedderOptions Options { get; }
    public PlacementReport Placement { get; }
    /// <summary>Fallback nodes the manifest does not explain (<see cref="ModelManifest.ExpectedFallbacks"/>).</summary>
    public IReadOnlyList<string> UnexplainedFallbacks => Placement.Unexplained(Manifest.ExpectedFallbacks);
    /// <summary>Unexplained fallback nodes counted, including those ORT placed on the CPU EP without naming them.</summary>
    public int UnexplainedFallbackCount => Placement.UnexplainedCount(Manifest.ExpectedFallbacks);
    /// <summary>Whether the requested EP holds at least the manifest's <see cref="ModelManifest.MinEpNodeShare"/> of the graph.</summary>
    public bool HoldsGraph => Placement.Holds(Manifest.MinEpNodeShare);
    public int FixedBatch { get; }

    private long _calls;

    /// <summary>Inference calls made through <see cref="Embed"/> so far.</summary>
    public long Calls => Interlocked.Read(ref _calls);
    /// <summary>The small fixed-shape session's batch (0 when there is none).</summary>
    public int SmallBatch { get; private init; }
    public int Dimension => Manifest.OutputDimension;
    public int ImageLength => _imageLength;
    /// <summary>Worst cosine distance the golden pack showed at load (NaN when the check was turned off).</summary>
    public double GoldenWorstDistance { get; private set; } = double.NaN;

    /// <param name="sharedWeights">On the CPU EP, the process-wide copy of this model's weights to use instead of the
    /// session's own (see <see cref="SharedWeights"/>); ignored on other EPs, whose weights live on the device.</param>
    public static Embedder Load(ModelManifest manifest, EmbedderOptions? options = null, ILogger? logger = null, SharedWeights? sharedWeights = null)
    {
        options ??= new EmbedderOptions();
        logger ??= NullLogger.Instance;
        ManifestLoader.VerifyChecksum(manifest);
        var ep = ResolveProvider(options.ExecutionProvider, logger);
        var fixedBatch = options.FixedBatch > 0 ? options.FixedBatch : ep == ExecutionProvider.CoreML ? options.CoreMLBatch : 0;

        var smallBatch = options.SmallFixedBatch ?? (ep == ExecutionProvider.CoreML && fixedBatch > DefaultCoreMLSmallBatch ? DefaultCoreMLSmallBatch : 0);
        if (fixedBatch == 0 || smallBatch >= fixedBatch) smallBatch = 0;
        var (session, placement) = CreateSession(manifest, ep, options, fixedBatch, sharedWeights);
        InferenceSession? small = null;
        if (smallBatch > 0)
        {
            try
            {
                small = CreateSession(manifest, ep, options, smallBatch, sharedWeights).Session;
            }
            catch
            {
                session.Dispose();
                throw;
            }
        }
        var embedder = new Embedder(manifest, ep, options, session, placement, fixedBatch) { _small = small, SmallBatch = smallBatch };
        try
        {
            logger.LogInformation(
                "Model {Revision} on EP {Ep}: intra-op threads {Intra}, inter-op threads {Inter}, fixed batch {Fixed} (small {Small}), {Nodes} nodes, {Fallback} fallback nodes; {Share}",
                manifest.Revision, ep, options.EffectiveIntraOpThreads, options.InterOpThreads, fixedBatch, smallBatch, placement.TotalNodes, placement.FallbackCount, placement.ShareText);
            if (options.VerifyGoldenPack)
                embedder.VerifyGoldenPack();
        }
        catch
        {
            embedder.Dispose();
            throw;
        }
        return embedder;
    }

    /// <summary>
    /// One session, with its placement report. With a fixed batch (always on Core ML) every symbolic dimension of the
    /// manifest's input (the batch axis, "batch" in the bundled manifests) is fixed to it with ORT's free-dimension
    /// override, so the graph ORT partitions has fully static input shapes: the Core ML EP appended with
    /// RequireStaticInputShapes=1 refuses every node whose input has a dynamic dimension (ORT
    /// core/providers/coreml/builders/helper.cc:70-73, main 89b01b4), and padding a call to the fixed batch at run time
    /// does not change the declared shape.
    /// </summary>
    private static (InferenceSession Session, PlacementReport Placement) CreateSession(ModelManifest manifest, ExecutionProvider ep, EmbedderOptions options,
        int fixedBatch, SharedWeights? sharedWeights)
    {
        var logId = $"{manifest.Revision}-{ep.Name()}-{fixedBatch}-{Guid.NewGuid():N}";
        using var so = new SessionOptions
        {
            LogId = logId,
            // Verbose at session creation so "Node placements" is logged; runs log at warning only.
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_VERBOSE,
            IntraOpNumThreads = options.EffectiveIntraOpThreads,
            InterOpNumThreads = options.InterOpThreads,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        // Spinning intra-op threads burn the cores that decode needs between batches.
        so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        if (fixedBatch > 0)
            foreach (var dimension in SymbolicInputDimensions(manifest))
                so.AddFreeDimensionOverrideByName(dimension, fixedBatch);
        if (options.OptimizedModelPath is { Length: > 0 } optimized)
            so.OptimizedModelFilePath = fixedBatch > 0 ? Path.ChangeExtension(optimized, null) + $"-b{fixedBatch}.onnx" : optimized;
        if (ep == ExecutionProvider.Cpu) sharedWeights?.ApplyTo(so);
        InferenceSession session;
        OrtRuntime.BeginCapture(logId);
        try
        {
            AppendProvider(so, ep, options, manifest, fixedBatch);
            // Core ML loads a copy that names its compile cache by the model's content, not by where the file lies.
            var model = ep == ExecutionProvider.CoreML ? CoreMLKeyedModel(manifest, options) : manifest.OnnxPath;
#pragma warning disable CA2000 // returned to the caller, which owns it
            session = new InferenceSession(model, so);
#pragma warning restore CA2000
        }
        catch (OnnxRuntimeException e)
        {
            OrtRuntime.EndCapture(logId);
            throw new ExecutionProviderUnavailableException($"model {manifest.Revision}: ONNX Runtime could not create a session on EP {ep}: {e.Message}", e);
        }
        Diagnostics.ProcessMemory.ReturnFreedNativeMemory(); // the parsed model file, freed once the session holds the weights
        var placement = PlacementReport.Parse(ep, OrtRuntime.EndCapture(logId));
        // ORT ignores an override whose name the model does not use: a manifest naming its batch axis differently from
        // the export would leave the shape dynamic, and Core ML would refuse every node. Check what the session serves.
        if (fixedBatch > 0 && session.InputMetadata.TryGetValue(manifest.Input.Name, out var input) && input.Dimensions.Any(d => d < 0))
        {
            var dims = string.Join(", ", input.Dimensions);
            session.Dispose();
            throw new ModelManifestException($"{manifest.ManifestPath}: input {manifest.Input.Name} stays dynamic ([{dims}]) with the batch fixed to {fixedBatch}: " +
                                             "the manifest's input shape must name the export's symbolic batch axis exactly (onnx: graph.input[].type.tensor_type.shape.dim[0].dim_param)");
        }
        return (session, placement);
    }

    /// <summary>The manifest input's symbolic dimensions (strings in its shape). Only the batch axis may be symbolic:
    /// a fixed batch cannot fix a symbolic image size.</summary>
    public static IReadOnlyList<string> SymbolicInputDimensions(ModelManifest manifest)
    {
        var names = manifest.Input.Shape.Select((d, i) => (d, i)).Where(x => x.d.ValueKind == System.Text.Json.JsonValueKind.String).ToList();
        if (names.Any(x => x.i != 0))
            throw new ModelManifestException($"{manifest.ManifestPath}: input {manifest.Input.Name} has symbolic dimensions other than the batch axis " +
                                             $"({string.Join(", ", names.Where(x => x.i != 0).Select(x => x.d.GetString()))}); export it with a fixed image size.");
        return names.Select(x => x.d.GetString()!).ToList();
    }

    /// <summary>The input's dimensions as the session serves them (-1 for a dynamic one).</summary>
    public IReadOnlyList<int> InputDimensions => _session.InputMetadata[Manifest.Input.Name].Dimensions;

    /// <summary>The same for the small fixed-shape session (empty when there is none).</summary>
    public IReadOnlyList<int> SmallInputDimensions => _small?.InputMetadata[Manifest.Input.Name].Dimensions ?? [];

    /// <summary>Where Core ML keeps this model's compiled form: a folder per model SHA-256 under
    /// <see cref="EmbedderOptions.CoreMLCacheDirectory"/> (default: under the temp directory), so a changed export never
    /// reuses another's compile, and a compile shipped with the bundle lands where this node looks for it.</summary>
    public static string CoreMLCacheFor(EmbedderOptions options, ModelManifest manifest) =>
        Path.Combine(options.CoreMLCacheDirectory ?? Path.Combine(Path.GetTempPath(), "ingestfleet-coreml"), manifest.Onnx.Sha256);

    /// <summary>The copy of the model file a Core ML session loads, in <see cref="CoreMLCacheFor"/>.</summary>
    public const string CoreMLKeyedModelFile = "model-keyed.onnx";

    /// <summary>The Core ML compile cache key of a model: its SHA-256, as ORT accepts a key (alphanumeric, at most 64
    /// characters: core/providers/coreml/coreml_execution_provider.cc:64-72, main 89b01b4).</summary>
    public static string CoreMLCacheKey(ModelManifest manifest) => "if" + manifest.Onnx.Sha256[..Math.Min(60, manifest.Onnx.Sha256.Length)];

    /// <summary>
    /// Without a key, ORT names a Core ML compile by a hash of the path the model was loaded from
    /// (include/onnxruntime/core/providers/coreml/coreml_provider_factory.h:66-74), so a compile archived from one Mac
    /// would never be found on a node that keeps the model elsewhere. The key is read from the model's metadata
    /// (COREML_CACHE_KEY), and the model's bytes are its identity (SHA-256, checked before this), so the session loads a
    /// copy of the verified file with one metadata entry appended: protobuf lets a repeated field (ModelProto
    /// metadata_props, field 14; StringStringEntryProto key 1, value 2) be appended to a serialized message.
    /// </summary>
    public static string CoreMLKeyedModel(ModelManifest manifest, EmbedderOptions options)
    {
        var dir = CoreMLCacheFor(options, manifest);
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, CoreMLKeyedModelFile);
        var entry = KeyedMetadata(CoreMLCacheKey(manifest));
        var original = new FileInfo(manifest.OnnxPath);
        if (File.Exists(path) && new FileInfo(path).Length == original.Length + entry.Length) return path;
        var staging = path + $".{Environment.ProcessId}.tmp";
        using (var output = File.Create(staging))
        {
            using (var input = File.OpenRead(manifest.OnnxPath)) input.CopyTo(output);
            output.Write(entry);
        }
        File.Move(staging, path, overwrite: true);
        return path;
    }

    private static byte[] KeyedMetadata(string key)
    {
        static void Field(List<byte> to, int field, byte[] value)
        {
            to.Add((byte)((field << 3) | 2));
            for (var n = (uint)value.Length; ; n >>= 7)
            {
                if (n < 0x80) { to.Add((byte)n); break; }
                to.Add((byte)((n & 0x7F) | 0x80));
            }
            to.AddRange(value);
        }
        var entry = new List<byte>();
        Field(entry, 1, System.Text.Encoding.UTF8.GetBytes("COREML_CACHE_KEY"));
        Field(entry, 2, System.Text.Encoding.UTF8.GetBytes(key));
        var metadata = new List<byte>();
        Field(metadata, 14, [.. entry]);
        return [.. metadata];
    }

    /// <summary>Maps a configured EP name to one this process can use, or explains why it cannot.</summary>
    public static ExecutionProvider ResolveProvider(ExecutionProvider requested, ILogger? logger = null)
    {
        var available = OrtRuntime.AvailableProviders;
        var hasCoreML = available.Contains("CoreMLExecutionProvider");
        var hasCuda = available.Contains("CUDAExecutionProvider");
        switch (requested)
        {
            case ExecutionProvider.Cpu:
                return ExecutionProvider.Cpu;
            case ExecutionProvider.CoreML when hasCoreML && OperatingSystem.IsMacOS():
                return ExecutionProvider.CoreML;
            case ExecutionProvider.CoreML:
                throw new ExecutionProviderUnavailableException(
                    $"execution provider 'coreml' is not available here ({RuntimeInformation.OSDescription}, {RuntimeInformation.ProcessArchitecture}; " +
                    $"this ONNX Runtime build offers {string.Join(", ", available)}). Core ML runs only on macOS with the osx-arm64 runtime: " +
                    "use --ep cpu (or auto, which picks the best available and logs it).");
            case ExecutionProvider.Cuda when hasCuda:
                return ExecutionProvider.Cuda;
            case ExecutionProvider.Cuda:
                throw new ExecutionProviderUnavailableException(
                    $"execution provider 'cuda' is not in this ONNX Runtime build (it offers {string.Join(", ", available)}). " +
                    "Build the worker with the Microsoft.ML.OnnxRuntime.Gpu package on a CUDA machine, or use --ep cpu.");
            case ExecutionProvider.Auto:
                var chosen = hasCoreML && OperatingSystem.IsMacOS() ? ExecutionProvider.CoreML : hasCuda ? ExecutionProvider.Cuda : ExecutionProvider.Cpu;
                logger?.LogInformation("EP auto resolved to {Ep} (available: {Available})", chosen.Name(), string.Join(", ", available));
                return chosen;
            default:
                throw new ExecutionProviderUnavailableException($"unknown execution provider '{requested}': use auto, coreml, cuda or cpu.");
        }
    }

    private static void AppendProvider(SessionOptions so, ExecutionProvider ep, EmbedderOptions options, ModelManifest manifest, int fixedBatch)
    {
        switch (ep)
        {
            case ExecutionProvider.CoreML:
                // One folder per static batch: ORT names a compile {cache}/{key}/{partition}_static, so two shapes of one
                // model under one key would share (and reuse) one compile.
                var cache = Path.Combine(CoreMLCacheFor(options, manifest), $"b{fixedBatch}");
                Directory.CreateDirectory(cache);
                so.AppendExecutionProvider("CoreML", new Dictionary<string, string>
                {
                    ["ModelFormat"] = "MLProgram",
                    ["MLComputeUnits"] = options.CoreMLComputeUnits,
                    ["RequireStaticInputShapes"] = "1",
                    ["ModelCacheDirectory"] = cache,
                });
                break;
            case ExecutionProvider.Cuda:
                so.AppendExecutionProvider_CUDA(options.CudaDeviceId);
                break;
        }
    }

    /// <summary>Runs the golden pack on this session; throws <see cref="GoldenPackMismatchException"/> past epsilon.</summary>
    public double VerifyGoldenPack(GoldenPack? pack = null)
    {
        pack ??= GoldenPack.Read(Manifest.GoldenPath);
        if (pack.InputShape.Length != 4 || pack.InputShape[2] != Manifest.Preprocess.Size || pack.OutputDim != Dimension)
            throw new ModelManifestException($"{Manifest.GoldenPath}: golden pack shapes do not match manifest {Manifest.ManifestPath}.");
        var outputs = RunRaw(pack.Inputs, pack.Count);
        var worst = pack.WorstCosineDistance(outputs);
        GoldenWorstDistance = worst;
        var epsilon = Manifest.Golden.EpsilonFor(ExecutionProvider.Name());
        if (!(worst <= epsilon))
            throw new GoldenPackMismatchException(Manifest.Revision, ExecutionProvider.Name(), worst, epsilon);
        return worst;
    }

    /// <summary>
    /// One pipeline inference call at a time on this session (<see cref="EmbeddingPipeline"/> takes it around each call).
    /// With several batches in flight, two calls at once would each run the session's intra-op threads on the same cores
    /// and both take longer (ViT-B/32-size tower, 2 cores, direct: 16.4 images/s with one batch in flight, 14.3 with two
    /// before the lane); one at a time, the next batch's decodes are what overlaps a call.
    /// </summary>
    public SemaphoreSlim CallLane { get; } = new(1, 1);

    /// <summary>Raw model outputs (not normalised) for <paramref name="count"/> images laid out NCHW.</summary>
    public float[] RunRaw(ReadOnlyMemory<float> pixels, int count)
    {
        var outputs = new float[count * Dimension];
        RunInto(pixels, count, outputs);
        return outputs;
    }

    /// <summary>
    /// Embeds <paramref name="count"/> preprocessed images. Each result is a unit vector (when the manifest asks for
    /// L2 normalisation) or a reason code for a non-finite or zero-norm output: one bad row never fails the batch.
    /// </summary>
    public EmbeddingResult[] Embed(ReadOnlyMemory<float> pixels, int count)
    {
        Interlocked.Increment(ref _calls);
        var raw = ArrayPool<float>.Shared.Rent(count * Dimension);
        try
        {
            RunInto(pixels, count, raw);
            var results = new EmbeddingResult[count];
            for (var i = 0; i < count; i++)
                results[i] = Finish(raw.AsSpan(i * Dimension, Dimension));
            return results;
        }
        finally
        {
            ArrayPool<float>.Shared.Return(raw);
        }
    }

    private EmbeddingResult Finish(ReadOnlySpan<float> row)
    {
        foreach (var v in row)
            if (!float.IsFinite(v))
                return new EmbeddingResult(null, double.NaN, new Rejection(ReasonCodes.NonFiniteOutput, "the model produced NaN or Inf"));
        var norm = VectorMath.Norm(row);
        if (!(norm > 1e-12))
            return new EmbeddingResult(null, norm, new Rejection(ReasonCodes.ZeroNormOutput, "the model produced an all-zero vector"));
        var vector = row.ToArray();
        if (Manifest.L2Normalize)
        {
            var inv = (float)(1.0 / norm);
            for (var i = 0; i < vector.Length; i++) vector[i] *= inv;
        }
        return new EmbeddingResult(vector, norm, null);
    }

    private void RunInto(ReadOnlyMemory<float> pixels, int count, Span<float> outputs)
    {
        if (pixels.Length < count * _imageLength)
            throw new ArgumentException($"pixels hold {pixels.Length} floats; {count} images need {count * _imageLength}.", nameof(pixels));
        var chunk = FixedBatch > 0 ? FixedBatch : Math.Max(count, 1);
        for (var start = 0; start < count; start += chunk)
        {
            var n = Math.Min(chunk, count - start);
            var useSmall = _small is not null && n <= SmallBatch;
            var runBatch = useSmall ? SmallBatch : FixedBatch > 0 ? FixedBatch : n;
            var images = pixels.Slice(start * _imageLength, n * _imageLength);
            float[]? padded = null;
            try
            {
                Memory<float> input;
                if (runBatch == n)
                {
                    // The caller's buffer is the input tensor as it is: ORT only reads inputs, so no copy is made.
                    input = MemoryMarshal.AsMemory(images);
                }
                else
                {
                    // Static-shape EPs: copy into a pooled buffer and pad with zero rows, whose outputs are dropped.
                    padded = ArrayPool<float>.Shared.Rent(runBatch * _imageLength);
                    images.Span.CopyTo(padded);
                    padded.AsSpan(n * _imageLength, (runBatch - n) * _imageLength).Clear();
                    input = padded.AsMemory(0, runBatch * _imageLength);
                }
                using var value = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, input,
                    [runBatch, 3, Manifest.Preprocess.Size, Manifest.Preprocess.Size]);
                using var results = (useSmall ? _small! : _session).Run(_runOptions, _inputNames, [value], _outputNames);
                results[0].GetTensorDataAsSpan<float>()[..(n * Dimension)].CopyTo(outputs.Slice(start * Dimension, n * Dimension));
            }
            finally
            {
                if (padded is not null) ArrayPool<float>.Shared.Return(padded);
            }
        }
    }

    public void Dispose()
    {
        CallLane.Dispose();
        _session.Dispose();
        _small?.Dispose();
        _runOptions.Dispose();
    }
}
