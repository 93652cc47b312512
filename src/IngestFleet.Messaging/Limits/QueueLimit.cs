using System.Text.Json.Serialization;

namespace IngestFleet.Messaging.Limits;

/// <summary>The limits a queue publishes: past <see cref="MaxDepth"/> producers get 429 and, if <see cref="ShedRank"/> &gt; 0,
/// the fleet sheds it down to <see cref="ResumeDepth"/>.</summary>
public sealed record QueueLimit(
    [property: JsonPropertyName("priority")] string Priority,
    [property: JsonPropertyName("queue")] string Queue,
    [property: JsonPropertyName("max_depth")] long MaxDepth,
    [property: JsonPropertyName("resume_depth")] long ResumeDepth,
    [property: JsonPropertyName("wait_slo_seconds")] double WaitSloSeconds,
    [property: JsonPropertyName("shed_rank")] int ShedRank)
{
    /// <summary>0 = never shed; otherwise higher ranks are shed before lower ones.</summary>
    [JsonPropertyName("shed_policy")]
    public string ShedPolicy => ShedRank == 0
        ? "never shed: producers get 429 past max_depth"
        : $"shed rank {ShedRank}: past max_depth, lowest-ranked shards are parked in S3 (shed/) until depth <= resume_depth";
}
