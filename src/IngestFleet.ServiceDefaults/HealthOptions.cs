namespace IngestFleet.ServiceDefaults;

/// <summary>Where a generic-host service (the worker) answers health probes. Bound from <c>IngestFleet:Health</c>.
/// The gateway answers them on its own HTTP port.</summary>
public sealed class HealthOptions
{
    public const string SectionName = "IngestFleet:Health";

    /// <summary>Port of the health endpoints (0 = off).</summary>
    /// <value>Default 0.</value>
    [System.ComponentModel.DataAnnotations.Range(0, 65535)]
    public int Port { get; set; }

    /// <value>Default 127.0.0.1 (use 0.0.0.0 or + to listen on every interface inside a container).</value>
    [System.ComponentModel.DataAnnotations.Required]
    public string Host { get; set; } = "127.0.0.1";
}
