using System.Text.Json;
using System.Text.Json.Serialization;

namespace IngestFleet.Worker.Node;

/// <summary>One line of a worker process's lifecycle object (<c>nodes/{node-id}/lifecycle/…jsonl</c>): what happened
/// to it, when, and on what.</summary>
public sealed record LifecycleEvent
{
    /// <summary>process_start, model_ready, first_vector, drain_begin or stop.</summary>
    public string Event { get; init; } = "";
    public DateTimeOffset At { get; init; }
    public string NodeId { get; init; } = "";
    public string Host { get; init; } = "";
    public string Hardware { get; init; } = "";
    public string ExecutionProvider { get; init; } = "";
    public string ModelRevision { get; init; } = "";
    public string? Profile { get; init; }
    public int Pid { get; init; }

    /// <summary>Snake_case on disk, one object per line (the soak report embeds the same objects).</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };
}
