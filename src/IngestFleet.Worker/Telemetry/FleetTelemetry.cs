using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace IngestFleet.Worker.Telemetry;

/// <summary>
/// The fleet's own ActivitySource and Meter, both named <c>IngestFleet</c> (enable them with AddSource/AddMeter).
/// Instruments are created here once so every part of the process counts into the same series.
/// </summary>
public static class FleetTelemetry
{
    public const string Name = "IngestFleet";

    public static readonly ActivitySource Source = new(Name, typeof(FleetTelemetry).Assembly.GetName().Version?.ToString());
    public static readonly Meter Meter = new(Name, typeof(FleetTelemetry).Assembly.GetName().Version?.ToString());

    /// <summary>Jobs parked in S3 by the shedder; tags: messaging.destination.name, tenant, shard.</summary>
    public static readonly Counter<long> ShedItems = Meter.CreateCounter<long>("ingestfleet.shed.items", "{item}",
        "Jobs moved out of RabbitMQ into the shed/ parking prefix because their queue passed its published max depth");

    /// <summary>Gateway answers that refused work; tags: messaging.destination.name, http.response.status_code.</summary>
    public static readonly Counter<long> GatewayRefused = Meter.CreateCounter<long>("ingestfleet.gateway.refused", "{job}",
        "Jobs the gateway answered 429 or 503 for");

    /// <summary>Jobs the gateway published with a broker confirm; tag: messaging.destination.name.</summary>
    public static readonly Counter<long> GatewayAccepted = Meter.CreateCounter<long>("ingestfleet.gateway.accepted", "{job}",
        "Jobs the gateway published and the broker confirmed");
}
