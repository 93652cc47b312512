using System.ComponentModel.DataAnnotations;

namespace IngestFleet.ServiceDefaults;

/// <summary>An optional rotating log file, for hosts without a log collector (launchd on Mac nodes). Bound from
/// <c>IngestFleet:Logging</c>; containers log to stdout and leave <see cref="File"/> empty.</summary>
public sealed class FileLoggingOptions
{
    public const string SectionName = "IngestFleet:Logging";

    /// <summary>Log file path; empty (the default) logs to the console only.</summary>
    public string? File { get; set; }

    /// <value>Default 50 MB per file before it rolls over.</value>
    [Range(1, 10_000)] public int FileSizeLimitMb { get; set; } = 50;

    /// <value>Default 10 files kept (the current one included).</value>
    [Range(1, 1_000)] public int RetainedFiles { get; set; } = 10;
}
