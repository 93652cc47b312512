using System.Diagnostics.Metrics;

namespace IngestFleet.Messaging.Telemetry;

/// <summary>The messaging side's instruments on the fleet's meter (<c>IngestFleet</c>; several Meter instances may
/// share the name, and OpenTelemetry's AddMeter("IngestFleet") collects them all).</summary>
public static class MessagingMetrics
{
    public const string MeterName = "IngestFleet";

    private static readonly Meter Meter = new(MeterName, typeof(MessagingMetrics).Assembly.GetName().Version?.ToString());

    /// <summary>Jobs parked in S3 by the shedder; tags: messaging.destination.name, tenant, shard.</summary>
    public static readonly Counter<long> ShedItems = Meter.CreateCounter<long>("ingestfleet.shed.items", "{item}",
        "Jobs moved out of RabbitMQ into the shed/ parking prefix because their queue passed its published max depth");
}
