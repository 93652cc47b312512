using System.ComponentModel.DataAnnotations;

namespace IngestFleet.Worker.Fetching;

/// <summary>Fetch limits. Bound from <c>IngestFleet:Fetch</c>.</summary>
public sealed class FetchOptions
{
    public const string SectionName = "IngestFleet:Fetch";

    /// <value>Default 32 MiB, the same as the preprocessing byte limit.</value>
    [Range(1, long.MaxValue)]
    public long MaxBytes { get; set; } = 32L * 1024 * 1024;

    /// <value>Default 15 s per image, connect included.</value>
    [Range(1, 3600)]
    public int TimeoutSeconds { get; set; } = 15;

    /// <summary>Hosts allowed for https:// images; empty allows any public host (private ranges are always refused).</summary>
    public string[] AllowedHosts { get; set; } = [];

    /// <summary>file:// sources: only the embedded single-process mode turns this on.</summary>
    public bool AllowFileScheme { get; set; }

    /// <summary>Connections open at once to one host, so one slow host cannot take every fetch slot.</summary>
    /// <value>Default 8.</value>
    [Range(1, 256)]
    public int MaxConnectionsPerHost { get; set; } = 8;

    /// <value>Default 3 redirects, each re-checked by the SSRF guard.</value>
    [Range(0, 20)]
    public int MaxRedirects { get; set; } = 3;
}
