using IngestFleet.Messaging;
using IngestFleet.Messaging.Broker;
using IngestFleet.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RabbitMQ.Client.Exceptions;

namespace IngestFleet.Worker.Hosting;

/// <summary>What a fleet worker checks before it consumes: the broker answers (and the queues exist, declared with the
/// one topology) and the object store answers. A worker that cannot reach either stops with the reason instead of
/// taking jobs it cannot finish.</summary>
public static class WorkerStartup
{
    /// <summary>Checks the configuration a worker must not start without (the source allow-list:
    /// <see cref="Microsoft.Extensions.Options.OptionsValidationException"/>), then the broker and the store.</summary>
    public static async Task PrepareAsync(IServiceProvider services, CancellationToken cancellationToken)
    {
        _ = services.GetRequiredService<IngestFleet.Worker.Fetching.SourcePolicyOptions>(); // validated when first read
        await DeclareTopologyAsync(services.GetRequiredService<RabbitMqOptions>(), services.GetRequiredService<FleetOptions>(), cancellationToken);
        await ProbeStoreAsync(services.GetRequiredService<IObjectStore>(), cancellationToken);
    }

    /// <summary>Declares the fleet's queues (the one topology); a broker that cannot be reached is a
    /// <see cref="FleetUnreachableException"/> naming it and the fix.</summary>
    public static async Task DeclareTopologyAsync(RabbitMqOptions rabbit, FleetOptions fleet, CancellationToken cancellationToken)
    {
        try
        {
            await FleetTopology.DeclareAsync(rabbit, fleet, cancellationToken);
        }
        catch (Exception e) when (e is BrokerUnreachableException or OperationInterruptedException or System.Net.Sockets.SocketException or IOException)
        {
            throw new FleetUnreachableException($"cannot reach RabbitMQ at {BrokerEndpoints.Describe(rabbit)}: {e.Message}. Start the broker, or set IngestFleet__RabbitMq__Uri (--broker) and for a cluster IngestFleet__RabbitMq__ClusterNodes__0… (--broker-nodes).", e);
        }
    }

    /// <summary>Checks that the object store answers; one that does not is a <see cref="FleetUnreachableException"/>.</summary>
    public static async Task ProbeStoreAsync(IObjectStore store, CancellationToken cancellationToken)
    {
        try
        {
            await store.ProbeAsync(cancellationToken);
        }
        catch (Exception e) when (e is Amazon.Runtime.AmazonServiceException or HttpRequestException or Amazon.Runtime.AmazonClientException)
        {
            throw new FleetUnreachableException($"cannot use the object store {store.Location}: {e.Message}. Check IngestFleet__S3__* (--s3-endpoint/--bucket) and credentials.", e);
        }
    }

    /// <summary>Prepares, then runs the worker until it is stopped (SIGTERM/Ctrl+C drain in-flight batches first).</summary>
    public static async Task RunWorkerAsync(this IHost host, CancellationToken cancellationToken = default)
    {
        await PrepareAsync(host.Services, cancellationToken);
        await host.RunAsync(cancellationToken);
    }
}
