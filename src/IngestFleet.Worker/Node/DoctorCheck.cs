using System.Text.Json.Serialization;

namespace IngestFleet.Worker.Node;

/// <summary>One finding of <see cref="NodeDoctor"/>: what was checked, whether the node passes it, and the detail an
/// SRE acts on. A failed check that is not <see cref="Blocking"/> is a warning.</summary>
public sealed record DoctorCheck(
    [property: JsonPropertyName("check")] string Name,
    [property: JsonPropertyName("ok")] bool Ok,
    [property: JsonPropertyName("detail")] string Detail,
    [property: JsonPropertyName("blocking")] bool Blocking = true);
