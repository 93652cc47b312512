using System.Text.Json.Serialization;

namespace IngestFleet.Worker.Profiles;

/// <summary>One (threads, batch) cell of a tuning sweep.</summary>
public sealed record TuneCell
{
    [JsonPropertyName("threads")] public int Threads { get; init; }
    [JsonPropertyName("batch")] public int Batch { get; init; }
    [JsonPropertyName("batches_run")] public int BatchesRun { get; init; }
    [JsonPropertyName("images_per_second")] public double ImagesPerSecond { get; init; }
    [JsonPropertyName("p50_ms")] public double P50Ms { get; init; }
    [JsonPropertyName("p95_ms")] public double P95Ms { get; init; }
    [JsonPropertyName("p99_ms")] public double P99Ms { get; init; }
    [JsonPropertyName("peak_rss_bytes")] public long PeakRssBytes { get; init; }
    [JsonPropertyName("peak_rss_decode_bytes")] public long PeakRssDecodeBytes { get; init; }
    [JsonPropertyName("peak_rss_inference_bytes")] public long PeakRssInferenceBytes { get; init; }
    /// <summary>Bytes the kernel swapped out while the cell ran (-1: not readable here).</summary>
    [JsonPropertyName("swap_bytes")] public long SwapBytes { get; init; }
}
