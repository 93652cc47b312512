using IngestFleet.Contracts;
using MassTransit;

namespace IngestFleet.Worker.Consumers;

/// <summary>
/// Consumes up to <see cref="FleetOptions.BatchSize"/> jobs at a time from one priority queue. Per-item failures are
/// dead-lettered inside <see cref="BatchProcessor"/> and the batch completes (and is acked) normally; only an
/// infrastructure failure (the store is down) throws, and then the whole batch is retried.
/// The batch is not abandoned when the host stops: it is short (seconds) and finishing it is cheaper than redoing it,
/// so the stop token is not passed into the work; the host's shutdown timeout covers it.
/// </summary>
public sealed class EmbedBatchConsumer(BatchProcessor processor, FleetOptions fleet) : IConsumer<Batch<EmbedCatalogImage>>
{
    public async Task Consume(ConsumeContext<Batch<EmbedCatalogImage>> context)
    {
        var jobs = context.Message.Select(m => m.Message).ToArray();
        await processor.ProcessAsync(jobs, PriorityOf(context.ReceiveContext.InputAddress), CancellationToken.None);
    }

    /// <summary>The batch's class is the queue it came from (not the jobs' own field, which a producer could get wrong).</summary>
    private string PriorityOf(Uri inputAddress)
    {
        var queue = inputAddress.AbsolutePath.TrimEnd('/').Split('/')[^1];
        return fleet.Priorities.FirstOrDefault(p => fleet.QueueName(p) == queue) ?? fleet.Priorities[^1];
    }
}
