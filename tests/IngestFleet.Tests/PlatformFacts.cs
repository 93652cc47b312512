namespace IngestFleet.Tests;

/// <summary>A fact that only means something on Linux; elsewhere it is reported as skipped, with the reason.</summary>
public sealed class LinuxOnlyFactAttribute : FactAttribute
{
    public LinuxOnlyFactAttribute()
    {
        if (!OperatingSystem.IsLinux()) Skip = "Linux only: reads thread priorities from /proc";
    }
}

/// <summary>A fact that pins behaviour where Core ML is absent; on macOS it is reported as skipped, with the reason.</summary>
public sealed class NotOnMacFactAttribute : FactAttribute
{
    public NotOnMacFactAttribute()
    {
        if (OperatingSystem.IsMacOS()) Skip = "Core ML is available on macOS; this pins the behaviour where it is not";
    }
}
