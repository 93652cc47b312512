using System.Text;
using System.Text.Json;

namespace IngestFleet.Worker.Node;

/// <summary>The doctor's findings as text (one line per check) or JSON (<c>{"fit": …, "checks": […]}</c>).</summary>
public static class DoctorReport
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string ToText(IReadOnlyList<DoctorCheck> checks)
    {
        var sb = new StringBuilder();
        foreach (var c in checks)
            sb.Append(c.Ok ? "  ok    " : c.Blocking ? "  FAIL  " : "  warn  ").Append(c.Name.PadRight(20)).Append(' ').AppendLine(c.Detail);
        sb.AppendLine(NodeDoctor.IsFit(checks)
            ? "node is fit to take traffic"
            : $"node is NOT fit to take traffic: {string.Join(", ", checks.Where(c => !c.Ok && c.Blocking).Select(c => c.Name))}");
        return sb.ToString();
    }

    public static string ToJson(IReadOnlyList<DoctorCheck> checks) =>
        JsonSerializer.Serialize(new { fit = NodeDoctor.IsFit(checks), checks }, Indented);
}
