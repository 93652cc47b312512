using System.Text.Json.Serialization;

namespace IngestFleet.Operations.Acceptance;

/// <summary>One sign-off gate: what was measured, the limit it is held to, and the verdict.</summary>
public sealed record AcceptanceGate(
    [property: JsonPropertyName("gate")] string Name,
    [property: JsonPropertyName("measured")] string Measured,
    [property: JsonPropertyName("limit")] string Limit,
    [property: JsonPropertyName("pass")] bool Pass,
    [property: JsonPropertyName("fix")] string? Fix = null);
