using IngestFleet.Contracts;
using IngestFleet.Embedding;
using IngestFleet.Storage;
using IngestFleet.Worker.Fetching;
using IngestFleet.Worker.Telemetry;
using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace IngestFleet.Worker.Consumers;

/// <summary>What one batch produced.</summary>
public sealed record BatchReport(int Embedded, int AlreadyPresent, int DeadLettered, BatchTimings Timings, TimeSpan Write);

/// <summary>
/// One batch of jobs end to end: validate → fetch → preprocess → embed → write one outcome per item (vector or dead
/// letter). Storage failures throw (the batch is retried and redelivered; writes are idempotent); item failures never do.
/// </summary>
public sealed class BatchProcessor(
    EmbeddingPipeline pipeline, ImageFetcher fetcher, ResultWriter writer, FleetOptions fleet, FetchOptions fetchOptions,
    FleetLedger ledger, PriorityGate gate, BackgroundStagesHolder background, TimeProvider time, ILogger<BatchProcessor> logger)
{
    private const int WriteConcurrency = 16;

    public string Revision => pipeline.Embedder.Manifest.Revision;

    /// <param name="jobs">One batch, all from one queue.</param>
    /// <param name="priority">The queue's priority class: its CPU stages are scheduled by it (<see cref="PriorityGate"/>).</param>
    /// <param name="cancellationToken">Cancels the batch.</param>
    public async Task<BatchReport> ProcessAsync(IReadOnlyList<EmbedCatalogImage> jobs, string priority, CancellationToken cancellationToken)
    {
        var level = Array.IndexOf(fleet.Priorities, priority);
        if (level < 0) level = fleet.Priorities.Length - 1;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var embedder = pipeline.Embedder;
        // One span per batch, after the GenAI semantic conventions for embeddings.
        using var activity = FleetTelemetry.Source.StartActivity($"embeddings {Revision}", ActivityKind.Internal);
        var queue = fleet.QueueName(priority);
        var now = time.GetUtcNow();
        var waits = jobs.Where(j => j.EnqueuedAt is not null).Select(j => Math.Max(0, (now - j.EnqueuedAt!.Value).TotalSeconds)).ToArray();
        foreach (var w in waits) FleetTelemetry.QueueWait.Record(w, new KeyValuePair<string, object?>("messaging.destination.name", queue));
        if (activity is not null)
        {
            activity.SetTag("gen_ai.operation.name", "embeddings");
            activity.SetTag("gen_ai.provider.name", "onnxruntime");
            activity.SetTag("gen_ai.request.model", Revision);
            activity.SetTag("gen_ai.embeddings.dimension.count", embedder.Dimension);
            activity.SetTag("messaging.system", fetchOptions.AllowFileScheme ? "in-memory" : "rabbitmq"); // file:// is embedded mode only
            activity.SetTag("messaging.destination.name", queue);
            activity.SetTag("messaging.batch.message_count", jobs.Count);
            activity.SetTag("ingestfleet.batch.size", jobs.Count);
            activity.SetTag("ingestfleet.batch.limit", fleet.BatchSize);
            activity.SetTag("ingestfleet.threads.intra_op", embedder.Options.EffectiveIntraOpThreads);
            activity.SetTag("ingestfleet.threads.inter_op", embedder.Options.InterOpThreads);
            activity.SetTag("ingestfleet.execution_provider", embedder.ExecutionProvider);
            activity.SetTag("ingestfleet.device", embedder.ExecutionProvider == "cpu" ? "cpu" : embedder.ExecutionProvider == "cuda" ? $"cuda:{embedder.Options.CudaDeviceId}" : "apple-ane-gpu-cpu");
            activity.SetTag("ingestfleet.fallback_nodes", embedder.Placement.FallbackNodes.Count);
            activity.SetTag("ingestfleet.priority", priority);
            activity.SetTag("ingestfleet.os_priority", level > 0 && background.Stages is not null ? "low" : "normal");
            if (waits.Length > 0)
            {
                activity.SetTag("ingestfleet.queue.wait.max_s", waits.Max());
                activity.SetTag("ingestfleet.queue.wait.mean_s", waits.Average());
            }
        }
        // Jobs refused before any fetch, with their reason code and detail.
        var refused = new (string Reason, string Detail)?[jobs.Count];
        for (var i = 0; i < jobs.Count; i++)
        {
            var job = jobs[i];
            var problems = JobValidator.Validate(job, fleet.Priorities, fetchOptions.AllowFileScheme);
            if (problems.Count > 0) refused[i] = (ReasonCodes.InvalidJob, string.Join("; ", problems));
            else if (job.ModelRevision.Length > 0 && job.ModelRevision != Revision)
                refused[i] = (ReasonCodes.ModelRevisionMismatch, $"job asks for {job.ModelRevision}; this worker serves {Revision}");
            else if (job.Deadline is { } deadline && deadline < now)
                refused[i] = (ReasonCodes.DeadlinePassed, $"deadline {deadline:O} passed before the job started");
        }

        // Priority scheduling: this batch holds less urgent batches' CPU stages and I/O back until it is done, and waits
        // itself while a more urgent batch is in progress.
        using var claim = fleet.PriorityScheduling ? gate.Claim(level) : null;
        var stages = fleet.PriorityScheduling ? gate.For(level) : null;
        using var fetchGate = new SemaphoreSlim(fleet.FetchConcurrency);
        var sources = jobs.Select((job, i) => (Func<CancellationToken, Task<ImageSource>>)(async ct =>
        {
            if (refused[i] is { } r) return new ImageSource(default, r.Reason, r.Detail, TimeSpan.Zero);
            await fetchGate.WaitAsync(ct);
            try
            {
                if (stages is not null) await stages.WaitForTurnAsync(ct);
                var f = await fetcher.FetchAsync(job.Image, ct);
                return new ImageSource(f.Bytes, f.Reason, f.Detail, f.Elapsed);
            }
            finally
            {
                fetchGate.Release();
            }
        })).ToArray();

        var (outcomes, timings) = await pipeline.ProcessAsync(sources, fleet.EffectivePreprocessParallelism, fleet.EffectiveMicroBatch, cancellationToken, stages,
            level > 0 ? background.Stages : null);

        var writeStarted = System.Diagnostics.Stopwatch.GetTimestamp();
        var contract = pipeline.Preprocessor.Contract.ContractHash();
        int embedded = 0, present = 0, dead = 0;
        using var writeGate = new SemaphoreSlim(WriteConcurrency);
        await Task.WhenAll(jobs.Select(async (job, i) =>
        {
            await writeGate.WaitAsync(cancellationToken);
            try
            {
                if (stages is not null) await stages.WaitForTurnAsync(cancellationToken);
                var revision = job.ModelRevision.Length > 0 && JobValidator.IsSafeSegment(job.ModelRevision) ? job.ModelRevision : Revision;
                var o = outcomes[i];
                if (o.Ok)
                {
                    if (await writer.WriteVectorAsync(job, revision, o.Vector!, contract, cancellationToken)) Interlocked.Increment(ref embedded);
                    else Interlocked.Increment(ref present);
                }
                else
                {
                    await writer.WriteDeadLetterAsync(SafeForKeys(job), revision, o.Reason!, o.Detail ?? "", cancellationToken);
                    Interlocked.Increment(ref dead);
                    logger.LogInformation("dead-lettered {Tenant}/{Shard}/{Item}: {Reason} ({Detail})", job.Tenant, job.Shard, job.ItemId, o.Reason, o.Detail);
                }
            }
            finally
            {
                writeGate.Release();
            }
        }));
        var report = new BatchReport(embedded, present, dead, timings, System.Diagnostics.Stopwatch.GetElapsedTime(writeStarted));
        var modelTag = new KeyValuePair<string, object?>("gen_ai.request.model", Revision);
        var opTag = new KeyValuePair<string, object?>("gen_ai.operation.name", "embeddings");
        FleetTelemetry.OperationDuration.Record(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds, opTag, modelTag,
            new KeyValuePair<string, object?>("gen_ai.provider.name", "onnxruntime"));
        FleetTelemetry.BatchPeakRss.Record(timings.PeakRssBytes, modelTag);
        if (embedded + present > 0) FleetTelemetry.ImagesEmbedded.Add(embedded + present, modelTag);
        foreach (var reason in outcomes.Where(o => !o.Ok).GroupBy(o => o.Reason!))
        {
            FleetTelemetry.ImagesRejected.Add(reason.Count(), modelTag, new KeyValuePair<string, object?>("error.type", reason.Key));
            FleetTelemetry.DeadLettered.Add(reason.Count(), modelTag);
        }
        if (activity is not null)
        {
            activity.SetTag("ingestfleet.preprocess.duration_s", timings.PreprocessSum.TotalSeconds);
            activity.SetTag("ingestfleet.inference.duration_s", timings.Inference.TotalSeconds);
            activity.SetTag("ingestfleet.fetch.duration_s", timings.FetchSum.TotalSeconds);
            activity.SetTag("ingestfleet.write.duration_s", report.Write.TotalSeconds);
            activity.SetTag("ingestfleet.peak_rss_bytes", timings.PeakRssBytes);
            activity.SetTag("ingestfleet.peak_rss.decode_bytes", timings.PeakRssDecodeBytes);
            activity.SetTag("ingestfleet.peak_rss.inference_bytes", timings.PeakRssInferenceBytes);
            var swap = IngestFleet.Embedding.Diagnostics.ProcessMemory.Swap();
            activity.SetTag("ingestfleet.swap_bytes", swap.UsedBytes);
            activity.SetTag("ingestfleet.embedded", embedded + present);
            activity.SetTag("ingestfleet.dead_lettered", dead);
            if (dead > 0) activity.SetTag("ingestfleet.rejected.reasons", string.Join(",", outcomes.Where(o => !o.Ok).Select(o => o.Reason).Distinct().Order(StringComparer.Ordinal)));
        }
        var done = time.GetUtcNow();
        foreach (var job in jobs)
            if (job.EnqueuedAt is { } enqueued) ledger.RecordLatency(priority, (done - enqueued).TotalSeconds);
        ledger.Record(report);
        return report;
    }

    /// <summary>An invalid job still gets a dead-letter record: unusable key segments are replaced, the original job is kept.</summary>
    private static EmbedCatalogImage SafeForKeys(EmbedCatalogImage job) => job with
    {
        Tenant = JobValidator.IsSafeSegment(job.Tenant) ? job.Tenant : "_invalid",
        Shard = JobValidator.IsSafeSegment(job.Shard) ? job.Shard : "_invalid",
        ItemId = string.IsNullOrEmpty(job.ItemId) ? $"_missing-{Guid.NewGuid():N}" : job.ItemId,
    };
}

/// <summary>The low-priority threads and ORT session for less urgent classes, when enabled.</summary>
public sealed record BackgroundStagesHolder(BackgroundStages? Stages) : IDisposable
{
    public void Dispose() => Stages?.Dispose();
}

/// <summary>Process-wide counts of finished items (the embedded mode waits on it; tests and metrics read it).</summary>
public sealed class FleetLedger : IDisposable
{
    private long _items, _embedded, _present, _dead, _batches;
    private long _fetchTicks, _preprocessTicks, _inferenceTicks, _writeTicks;
    private readonly SemaphoreSlim _changed = new(0);
    private readonly Dictionary<string, Queue<double>> _latencies = new(StringComparer.Ordinal);

    /// <summary>How many recent latencies are kept per priority class.</summary>
    public const int LatencyWindow = 10_000;

    /// <summary>Records one job's latency from enqueue (producer's stamp) to its outcome being stored.</summary>
    public void RecordLatency(string priority, double seconds)
    {
        lock (_latencies)
        {
            if (!_latencies.TryGetValue(priority, out var q)) _latencies[priority] = q = new Queue<double>();
            if (q.Count == LatencyWindow) q.Dequeue();
            q.Enqueue(seconds);
        }
    }

    /// <summary>The recent enqueue → stored latencies (seconds) of one priority class, oldest first.</summary>
    public double[] Latencies(string priority)
    {
        lock (_latencies) return _latencies.TryGetValue(priority, out var q) ? q.ToArray() : [];
    }

    /// <summary>Forgets recorded latencies (benchmarks measure phases separately).</summary>
    public void ClearLatencies()
    {
        lock (_latencies) _latencies.Clear();
    }

    public long Items => Interlocked.Read(ref _items);
    public long Embedded => Interlocked.Read(ref _embedded);
    public long AlreadyPresent => Interlocked.Read(ref _present);
    public long DeadLettered => Interlocked.Read(ref _dead);
    public long Batches => Interlocked.Read(ref _batches);
    public TimeSpan FetchTime => TimeSpan.FromTicks(Interlocked.Read(ref _fetchTicks));
    public TimeSpan PreprocessTime => TimeSpan.FromTicks(Interlocked.Read(ref _preprocessTicks));
    public TimeSpan InferenceTime => TimeSpan.FromTicks(Interlocked.Read(ref _inferenceTicks));
    public TimeSpan WriteTime => TimeSpan.FromTicks(Interlocked.Read(ref _writeTicks));

    /// <summary>Counts one finished batch; every item of it had exactly one outcome, so the outcomes sum to its size.</summary>
    public void Record(BatchReport r)
    {
        Interlocked.Add(ref _embedded, r.Embedded);
        Interlocked.Add(ref _present, r.AlreadyPresent);
        Interlocked.Add(ref _dead, r.DeadLettered);
        Interlocked.Add(ref _fetchTicks, r.Timings.FetchSum.Ticks);
        Interlocked.Add(ref _preprocessTicks, r.Timings.PreprocessSum.Ticks);
        Interlocked.Add(ref _inferenceTicks, r.Timings.Inference.Ticks);
        Interlocked.Add(ref _writeTicks, r.Write.Ticks);
        Interlocked.Increment(ref _batches);
        Interlocked.Add(ref _items, r.Embedded + r.AlreadyPresent + r.DeadLettered);
        _changed.Release();
    }

    /// <summary>Waits until at least <paramref name="items"/> items have finished.</summary>
    public async Task WaitForAsync(long items, Action<long>? progress, CancellationToken cancellationToken)
    {
        while (Items < items)
        {
            await _changed.WaitAsync(TimeSpan.FromMilliseconds(500), cancellationToken);
            progress?.Invoke(Items);
        }
        progress?.Invoke(Items);
    }

    public void Dispose() => _changed.Dispose();
}
