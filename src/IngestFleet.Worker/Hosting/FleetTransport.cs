namespace IngestFleet.Worker.Hosting;

public enum FleetTransport
{
    /// <summary>The fleet: RabbitMQ queues, S3 store.</summary>
    RabbitMq,

    /// <summary>The embedded single-process mode: MassTransit's in-memory transport, a local-directory store.</summary>
    InMemory,
}
