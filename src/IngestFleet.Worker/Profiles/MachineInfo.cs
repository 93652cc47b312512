using System.Text.Json.Serialization;

namespace IngestFleet.Worker.Profiles;

/// <summary>The machine a profile was measured on.</summary>
public sealed record MachineInfo
{
    [JsonPropertyName("host")] public string Host { get; init; } = Environment.MachineName;
    [JsonPropertyName("os")] public string Os { get; init; } = System.Runtime.InteropServices.RuntimeInformation.OSDescription;
    [JsonPropertyName("arch")] public string Arch { get; init; } = System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString();
    [JsonPropertyName("logical_cores")] public int LogicalCores { get; init; } = Environment.ProcessorCount;
    [JsonPropertyName("performance_cores")] public int PerformanceCores { get; init; }
    [JsonPropertyName("memory_bytes")] public long MemoryBytes { get; init; } = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
    [JsonPropertyName("runtime")] public string Runtime { get; init; } = System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription;
}
