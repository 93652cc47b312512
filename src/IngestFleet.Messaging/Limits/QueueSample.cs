using System.Text.Json.Serialization;

namespace IngestFleet.Messaging.Limits;

/// <summary>One queue's depth at one moment. Depth counts ready and unacknowledged messages: with prefetch equal to the
/// batch size, in-flight work is unacked and would be invisible to a ready-only count.</summary>
public sealed record QueueSample(
    [property: JsonPropertyName("queue")] string Queue,
    [property: JsonPropertyName("ready")] long Ready,
    [property: JsonPropertyName("unacked")] long Unacked,
    [property: JsonPropertyName("consumers")] long Consumers,
    [property: JsonPropertyName("ack_rate_per_second")] double AckRate,
    [property: JsonPropertyName("estimated_wait_seconds")] double EstimatedWaitSeconds,
    [property: JsonPropertyName("sampled_at")] DateTimeOffset SampledAt)
{
    [JsonPropertyName("depth")] public long Depth => Ready + Unacked;
}
