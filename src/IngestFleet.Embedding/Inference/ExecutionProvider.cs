using System.Text.Json.Serialization;

namespace IngestFleet.Embedding.Inference;

/// <summary>Where ONNX Runtime runs a model. Configuration, CLI flags, profiles and telemetry spell them in lower case.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ExecutionProvider>))]
public enum ExecutionProvider
{
    /// <summary>Core ML on macOS, else CUDA when the build has it, else CPU (only ever requested, never resolved).</summary>
    [JsonStringEnumMemberName("auto")] Auto,
    [JsonStringEnumMemberName("coreml")] CoreML,
    [JsonStringEnumMemberName("cuda")] Cuda,
    [JsonStringEnumMemberName("cpu")] Cpu,
}

public static class ExecutionProviders
{
    /// <summary>The lower-case name used in flags, configuration, profiles and telemetry.</summary>
    public static string Name(this ExecutionProvider ep) => ep switch
    {
        ExecutionProvider.Auto => "auto",
        ExecutionProvider.CoreML => "coreml",
        ExecutionProvider.Cuda => "cuda",
        _ => "cpu",
    };

    /// <summary>Parses a flag or configuration value (case-insensitive); throws naming the accepted values.</summary>
    public static ExecutionProvider Parse(string value) =>
        Enum.TryParse<ExecutionProvider>(value, ignoreCase: true, out var ep) && Enum.IsDefined(ep)
            ? ep
            : throw new ExecutionProviderUnavailableException($"unknown execution provider '{value}': use auto, coreml, cuda or cpu.");
}
