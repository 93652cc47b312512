using System.Text.Json.Serialization;

namespace IngestFleet.Operations.Acceptance;

/// <summary>A gate's verdict: it passed, it failed, or it could not be computed or does not apply (with the reason).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<GateVerdict>))]
public enum GateVerdict
{
    [JsonStringEnumMemberName("pass")] Pass,
    [JsonStringEnumMemberName("fail")] Fail,
    [JsonStringEnumMemberName("not_applicable")] NotApplicable,
}

/// <summary>One sign-off gate: what was measured, the limit it is held to, and the verdict. A gate that cannot be
/// computed is never a pass: it is "not applicable" with the reason in <see cref="Measured"/>, and it blocks
/// acceptance unless it does not apply to this node at all (<see cref="Blocks"/> false: an image-only model has no
/// token cap; the CPU EP has no accelerator to hold the graph).</summary>
public sealed record AcceptanceGate(
    [property: JsonPropertyName("gate")] string Name,
    [property: JsonPropertyName("measured")] string Measured,
    [property: JsonPropertyName("limit")] string Limit,
    [property: JsonPropertyName("verdict")] GateVerdict Verdict,
    [property: JsonPropertyName("fix")] string? Fix = null)
{
    public AcceptanceGate(string name, string measured, string limit, bool pass, string? fix = null)
        : this(name, measured, limit, pass ? GateVerdict.Pass : GateVerdict.Fail, fix)
    {
    }

    [JsonPropertyName("pass")] public bool Pass => Verdict == GateVerdict.Pass;

    [JsonPropertyName("blocks")] public bool Blocks { get; init; } = true;

    /// <summary>Whether this gate keeps the node from being accepted.</summary>
    [JsonIgnore] public bool Rejects => Verdict == GateVerdict.Fail || (Verdict == GateVerdict.NotApplicable && Blocks);

    public static AcceptanceGate NotApplicable(string name, string reason, string limit, bool blocks, string? fix = null) =>
        new(name, reason, limit, GateVerdict.NotApplicable, fix) { Blocks = blocks };
}
