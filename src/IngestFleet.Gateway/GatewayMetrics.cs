using System.Diagnostics.Metrics;
using IngestFleet.ServiceDefaults;

namespace IngestFleet.Gateway;

/// <summary>The gateway's instruments on the fleet's meter (<c>IngestFleet</c>).</summary>
public static class GatewayMetrics
{
    private static readonly Meter Meter = new(TelemetrySetup.FleetSourceName, typeof(GatewayMetrics).Assembly.GetName().Version?.ToString());

    /// <summary>Gateway answers that refused work; tags: messaging.destination.name, http.response.status_code.</summary>
    public static readonly Counter<long> Refused = Meter.CreateCounter<long>("ingestfleet.gateway.refused", "{job}",
        "Jobs the gateway answered 429 or 503 for");

    /// <summary>Jobs the gateway published with a broker confirm; tag: messaging.destination.name.</summary>
    public static readonly Counter<long> Accepted = Meter.CreateCounter<long>("ingestfleet.gateway.accepted", "{job}",
        "Jobs the gateway published and the broker confirmed");

    /// <summary>Wall time of <c>POST /v1/embed</c> from the body read to the answer; tag: outcome (answered, queuefull,
    /// noworker, brokerdown, deadlinepassed).</summary>
    public static readonly Histogram<double> EmbedLatency = Meter.CreateHistogram<double>("ingestfleet.gateway.embed.duration", "ms",
        "Time an online query waited for its worker's answer");
}
