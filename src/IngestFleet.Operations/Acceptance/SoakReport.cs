using IngestFleet.Worker.Node;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace IngestFleet.Operations.Acceptance;

/// <summary>
/// <c>soak.json</c>: what a soak run measured on one node, the artifact <c>ingestfleet accept</c> signs off and finance
/// reads. Snake_case on disk (<see cref="Json"/>).
/// </summary>
public sealed record SoakReport
{
    public const string SchemaId = "ingestfleet.soak/v1";

    public string Schema { get; init; } = SchemaId;
    public string Mode { get; init; } = "embedded";
    public string Curve { get; init; } = "";
    public DateTimeOffset StartedAt { get; init; }
    public DateTimeOffset EndedAt { get; init; }
    public double PlannedSeconds { get; init; }
    public double RanSeconds { get; init; }
    /// <summary>False when the run was stopped early (Ctrl-C): the report is partial.</summary>
    public bool Completed { get; init; }
    public SoakNode Node { get; init; } = new();
    public SoakServing Serving { get; init; } = new();
    public SoakContract Contract { get; init; } = new();
    public SoakTotals Totals { get; init; } = new();
    /// <summary>Per window: images per hour, errors by reason, publish-to-vector p95 per class, peak RSS.</summary>
    public IReadOnlyList<SoakWindow> Windows { get; init; } = [];
    /// <summary>p95 of the batch compute wall time (first image in hand → last inference done; fetch waits excluded) per
    /// batch size, in ms; what tune measures. Read from the saturation phase when it ran; otherwise from every batch
    /// after the first tenth of the run (at most a minute: warm-up).</summary>
    public IReadOnlyDictionary<string, double> BatchP95MsBySize { get; init; } = new Dictionary<string, double>();
    /// <summary>When the saturation phase (full batches back to back, after the curve) began, in seconds from the start;
    /// the batch p95 is then read from it. Null when it did not run (an interrupted soak).</summary>
    public double? SaturationStartSeconds { get; init; }
    /// <summary>Publish-to-vector p95 per priority class over the whole run, in seconds.</summary>
    public IReadOnlyDictionary<string, double> LatencyP95SecondsByClass { get; init; } = new Dictionary<string, double>();
    /// <summary>The published wait SLO of each class the curve drove, in seconds (the accept gate's limit).</summary>
    public IReadOnlyDictionary<string, double> WaitSloSecondsByClass { get; init; } = new Dictionary<string, double>();
    /// <summary>RSS at every batch step: decode, inference and the whole batch, per batch.</summary>
    public IReadOnlyList<SoakRssSample> Rss { get; init; } = [];
    /// <summary>Paging activity per sample: bytes the kernel swapped out since the previous sample (see <see cref="SwapMeasure"/>).</summary>
    public IReadOnlyList<SoakSample> Swap { get; init; } = [];
    /// <summary>What <see cref="Swap"/> holds: <c>swapped_out_bytes_per_sample</c>. Reports written before paging was
    /// measured hold the swap level and have no value here; accept cannot judge them.</summary>
    public string? SwapMeasure { get; init; }
    public const string SwappedOutPerSample = "swapped_out_bytes_per_sample";
    public SoakSwapVerdict SwapVerdict { get; init; } = new();
    public int UnexplainedFallbacks { get; init; }
    /// <summary>How much of the graph the EP holds (null in reports written before it was recorded).</summary>
    public SoakPlacement? Placement { get; init; }
    public IReadOnlyList<string> UnexplainedFallbackNodes { get; init; } = [];
    /// <summary>The node's lifecycle as the fleet recorded it (process start, model ready, first vector, drain, stop).</summary>
    public IReadOnlyList<LifecycleEvent> Lifecycle { get; init; } = [];

    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static SoakReport Load(string path)
    {
        try
        {
            var report = JsonSerializer.Deserialize<SoakReport>(File.ReadAllText(path), Json) ?? throw new JsonException("empty");
            return report.Schema == SchemaId ? report : throw new JsonException($"schema is {report.Schema}, expected {SchemaId}");
        }
        catch (JsonException e)
        {
            throw new FormatException($"{path}: not a soak report ({e.Message})", e);
        }
    }
}

public sealed record SoakNode
{
    public string Id { get; init; } = "";
    public string Host { get; init; } = "";
    public string Os { get; init; } = "";
    public string Arch { get; init; } = "";
    public int LogicalCores { get; init; }
    public long MemoryBytes { get; init; }
}

public sealed record SoakServing
{
    public string ModelRevision { get; init; } = "";
    public string ExecutionProvider { get; init; } = "";
    public int Batch { get; init; }
    public int IntraOpThreads { get; init; }
    public int InterOpThreads { get; init; }
}

/// <summary>The preprocessing and output contract the node served, to compare with the local benchmark's.</summary>
public sealed record SoakContract
{
    public int ShortEdge { get; init; }
    public string Crop { get; init; } = "";
    public string ResizeMode { get; init; } = "";
    /// <summary>The text tower's token cap; null for an image-only manifest (and in reports written before text towers).</summary>
    public int? TokenCap { get; init; }
    /// <summary>The node's text contract; null for an image-only manifest.</summary>
    public SoakTextContract? Text { get; init; }
    public int OutputDimension { get; init; }
    public string ContractHash { get; init; } = "";
    public double GoldenWorstDistance { get; init; }
    public double GoldenEpsilon { get; init; }
}

/// <summary>What turns a query into ids on the node: the tokenizer kind, each tokenizer file's SHA-256 as read from the
/// node's disk, the cap, truncation and padding.</summary>
public sealed record SoakTextContract
{
    public string Tokenizer { get; init; } = "";
    public IReadOnlyDictionary<string, string> TokenizerSha256 { get; init; } = new Dictionary<string, string>();
    public int TokenCap { get; init; }
    public string Truncation { get; init; } = "";
    public string Padding { get; init; } = "";
    /// <summary>The whole text contract as one hash (<see cref="IngestFleet.Embedding.Models.TextTowerSpec.ContractHash"/>:
    /// also lower-casing, punctuation stripping and the start, end and pad tokens, which decide every SigLIP vector).</summary>
    public string ContractHash { get; init; } = "";
    /// <summary>SHA-256 of the text graph as read on the node.</summary>
    public string OnnxSha256 { get; init; } = "";

    /// <summary>The contract of a manifest's text tower with its files hashed where they lie; null for an image-only one.</summary>
    public static SoakTextContract? Of(IngestFleet.Embedding.Models.ModelManifest m) => m.Text is not { } t ? null : new SoakTextContract
    {
        Tokenizer = t.Tokenizer.Kind,
        TokenizerSha256 = t.Tokenizer.Files.ToDictionary(f => f.File, f => IngestFleet.Embedding.Models.ManifestLoader.Sha256Of(m.PathOf(f.File)), StringComparer.Ordinal),
        TokenCap = t.TokenCap,
        Truncation = t.Truncation,
        Padding = t.Padding,
        ContractHash = t.ContractHash(),
        OnnxSha256 = IngestFleet.Embedding.Models.ManifestLoader.Sha256Of(m.PathOf(t.Onnx.File)),
    };

    public override string ToString() =>
        $"{Tokenizer}, cap {TokenCap}, truncation {Truncation}, padding {Padding}, contract {ContractHash}, text.onnx {OnnxSha256[..Math.Min(12, OnnxSha256.Length)]}, " +
        string.Join(", ", TokenizerSha256.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key} {kv.Value[..Math.Min(12, kv.Value.Length)]}"));

    public bool SameAs(SoakTextContract other) =>
        Tokenizer == other.Tokenizer && TokenCap == other.TokenCap && Truncation == other.Truncation && Padding == other.Padding
        && ContractHash == other.ContractHash && string.Equals(OnnxSha256, other.OnnxSha256, StringComparison.OrdinalIgnoreCase)
        && TokenizerSha256.Count == other.TokenizerSha256.Count
        && TokenizerSha256.All(kv => other.TokenizerSha256.TryGetValue(kv.Key, out var sha) && string.Equals(sha, kv.Value, StringComparison.OrdinalIgnoreCase));
}

public sealed record SoakTotals
{
    public long Published { get; init; }
    public long Embedded { get; init; }
    public long DeadLettered { get; init; }
    public long Batches { get; init; }
    public IReadOnlyDictionary<string, long> PublishedByClass { get; init; } = new Dictionary<string, long>();
    public IReadOnlyDictionary<string, long> ErrorsByReason { get; init; } = new Dictionary<string, long>();
}

public sealed record SoakWindow
{
    public double StartSeconds { get; init; }
    public double EndSeconds { get; init; }
    public long Images { get; init; }
    public double ImagesPerHour { get; init; }
    public IReadOnlyDictionary<string, long> Errors { get; init; } = new Dictionary<string, long>();
    public IReadOnlyDictionary<string, double> P95SecondsByClass { get; init; } = new Dictionary<string, double>();
    public long PeakRssBytes { get; init; }
}

public sealed record SoakRssSample(double At, string Step, long Bytes);

/// <summary>Swap is "sustained" when it stays above <see cref="ThresholdBytes"/> for at least <see cref="MinSeconds"/>
/// across consecutive samples; a short blip is reported but does not fail the node.</summary>
public sealed record SoakSwapVerdict
{
    public long ThresholdBytes { get; init; }
    public double MinSeconds { get; init; }
    public bool Sustained { get; init; }
    public double LongestSeconds { get; init; }
    public long MaxBytes { get; init; }
}

/// <summary>The share of the graph's nodes the serving EP held, from ORT's own placement lines, and the manifest's minimum.</summary>
public sealed record SoakPlacement
{
    public string ExecutionProvider { get; init; } = "";
    /// <summary>Null when ORT logged nothing to judge by.</summary>
    public double? EpNodeShare { get; init; }
    public double MinEpNodeShare { get; init; }
    public string Summary { get; init; } = "";
}
