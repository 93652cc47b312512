using IngestFleet.Contracts;
using IngestFleet.Embedding;
using IngestFleet.Messaging;
using IngestFleet.Messaging.Publishing;
using IngestFleet.Storage;
using IngestFleet.VectorStore;
using IngestFleet.Worker.Bundles;
using IngestFleet.Worker.Fetching;
using IngestFleet.Worker.Scheduling;
using IngestFleet.Worker.Telemetry;
using Microsoft.Extensions.Logging;

namespace IngestFleet.Worker.Processing;

/// <summary>
/// One batch of jobs end to end: validate → fetch → preprocess → embed → write one outcome per item (vector or dead
/// letter). Storage failures throw (the batch is retried and redelivered; writes are idempotent); item failures never
/// do. Telemetry (span, metrics) is <see cref="BatchTelemetry"/>'s.
/// </summary>
public sealed class BatchProcessor(
    EmbeddingPipeline pipeline, ImageFetcher fetcher, ResultWriter writer, FleetOptions fleet, FetchOptions fetchOptions,
    FleetLedger ledger, SourcePolicyOptions sources, PriorityGate gate, BackgroundStagesHolder background, BatchTelemetry telemetry, TenantBundlePolicy bundles, TimeProvider time,
    ILogger<BatchProcessor> logger, PublisherIdentity? publishers = null, IJobDeferral? deferral = null)
{
    private const int WriteConcurrency = 16;

    /// <summary>An item whose fetch outlasted the per-item budget: put back on its queue, never written as a dead letter.</summary>
    private const string DeferredCode = "_deferred";

    public string Revision => pipeline.Embedder.Manifest.Revision;

    /// <param name="jobs">One batch, all from one queue.</param>
    /// <param name="priority">The queue's priority class: its CPU stages are scheduled by it (<see cref="PriorityGate"/>).</param>
    /// <param name="cancellationToken">Cancels the batch.</param>
    /// <param name="schemaProblems">Per job, what the job schema refused in the message as received (null: not checked).</param>
    /// <param name="mayBeDone">Per job, whether it may already have its vector (a redelivery, a requeue): those are
    /// looked up first and not fetched or embedded again when present.</param>
    public async Task<BatchReport> ProcessAsync(IReadOnlyList<EmbedCatalogImage> jobs, string priority, CancellationToken cancellationToken,
        IReadOnlyList<IReadOnlyList<string>>? schemaProblems = null, IReadOnlyList<bool>? mayBeDone = null)
    {
        var alreadyDone = mayBeDone is null ? 0 : await SkipFinishedAsync();
        if (alreadyDone > 0 && jobs.Count == 0)
        {
            var skipped = new BatchReport(0, alreadyDone, 0, new BatchTimings(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero), TimeSpan.Zero);
            ledger.Record(new BatchCompletedEventArgs(priority, alreadyDone, skipped, [], new Dictionary<string, int>(StringComparer.Ordinal)));
            return skipped;
        }
        return await ProcessCoreAsync(jobs, priority, schemaProblems, mayBeDone, alreadyDone, cancellationToken);

        async Task<int> SkipFinishedAsync()
        {
            // A redelivered batch of the same jobs maps to the same part keys: what its first delivery wrote is there.
            var done = new HashSet<string>(StringComparer.Ordinal);
            var redelivered = jobs.Where((j, i) => mayBeDone[i]).Select(GroupOf).ToHashSet();
            foreach (var (group, key) in PartKeys(jobs, schemaProblems))
                if (redelivered.Contains(group))
                    done.UnionWith(await writer.ItemsInPartAsync(key, cancellationToken));
            var keep = Enumerable.Range(0, jobs.Count).Where(i => !(mayBeDone[i] && Keyable(jobs[i], schemaProblems?[i]) && done.Contains(jobs[i].ItemId))).ToArray();
            var skipped = jobs.Count - keep.Length;
            if (skipped > 0)
            {
                var before = mayBeDone;
                jobs = keep.Select(i => jobs[i]).ToArray();
                schemaProblems = schemaProblems is null ? null : keep.Select(i => schemaProblems[i]).ToArray();
                mayBeDone = keep.Select(i => before[i]).ToArray();
                logger.LogInformation("{Count} redelivered job(s) already had their vector; not fetched again", skipped);
            }
            return skipped;
        }
    }

    private static bool Keyable(EmbedCatalogImage job, IReadOnlyList<string>? schemaProblems) =>
        schemaProblems is not { Count: > 0 } && JobValidator.IsSafeSegment(job.Tenant) && JobValidator.IsSafeSegment(job.Shard) && !string.IsNullOrEmpty(job.ItemId);

    private (string Tenant, string Revision, string Shard) GroupOf(EmbedCatalogImage job) => (job.Tenant, RevisionFor(job), job.Shard);

    /// <summary>The part key of each shard in the batch: a hash of every (usable) item id the batch holds for it.</summary>
    private Dictionary<(string Tenant, string Revision, string Shard), string> PartKeys(IReadOnlyList<EmbedCatalogImage> jobs, IReadOnlyList<IReadOnlyList<string>>? schemaProblems) =>
        jobs.Where((j, i) => Keyable(j, schemaProblems?[i])).GroupBy(GroupOf)
            .ToDictionary(g => g.Key, g => StorageKeys.VectorPart(g.Key.Tenant, g.Key.Revision, g.Key.Shard, g.Select(j => j.ItemId)));

    private string RevisionFor(EmbedCatalogImage job) =>
        job.ModelRevision.Length > 0 && JobValidator.IsSafeSegment(job.ModelRevision) ? job.ModelRevision : Revision;

    private async Task<BatchReport> ProcessCoreAsync(IReadOnlyList<EmbedCatalogImage> jobs, string priority,
        IReadOnlyList<IReadOnlyList<string>>? schemaProblems, IReadOnlyList<bool>? mayBeDone, int alreadyDone, CancellationToken cancellationToken)
    {
        var level = Array.IndexOf(fleet.Priorities, priority);
        if (level < 0) level = fleet.Priorities.Length - 1;
        var lowPriority = level > 0 && background.Stages is not null;
        using var span = telemetry.Start(jobs, priority, lowPriority);
        var batchStarted = System.Diagnostics.Stopwatch.GetTimestamp();
        var unbundled = await TenantsWithoutBundleAsync(jobs, cancellationToken);
        var refused = Refuse(jobs, schemaProblems, unbundled);

        // Priority scheduling: this batch holds less urgent batches' CPU stages and I/O back until it is done, and waits
        // itself while a more urgent batch is in progress.
        using var claim = fleet.PriorityScheduling ? gate.Claim(level) : null;
        var stages = fleet.PriorityScheduling ? gate.For(level) : null;
        using var fetchGate = new SemaphoreSlim(fleet.FetchConcurrency);
        var firstTried = new DateTimeOffset[jobs.Count];
        var sources = jobs.Select((job, i) => FetchSource(job, refused[i], fetchGate, stages, started => firstTried[i] = started)).ToArray();
        // A less urgent batch shortens its inference calls while more urgent work is about (read before each call).
        var urgentWindow = TimeSpan.FromSeconds(fleet.UrgentWindowSeconds);
        Func<int>? callCap = level > 0 && fleet.PriorityScheduling && fleet.MicroBatchWhileUrgent > 0
            ? () => gate.UrgentWithin(level, urgentWindow) ? fleet.MicroBatchWhileUrgent : 0
            : null;
        var (outcomes, timings) = await pipeline.ProcessAsync(sources, fleet.EffectivePreprocessParallelism, fleet.EffectiveMicroBatchFor(fleet.YieldsToUrgent(priority)),
            cancellationToken, stages, level > 0 ? background.Stages : null, callCap);

        var writeStarted = System.Diagnostics.Stopwatch.GetTimestamp();
        var deferred = Enumerable.Range(0, jobs.Count).Where(i => outcomes[i].Rejection?.Code == DeferredCode).ToHashSet();
        if (deferred.Count > 0)
        {
            // Back at the tail of the queue, confirmed before anything of this batch is written or acked: a deferral the
            // broker refuses fails the batch before any item has an outcome, and the whole batch is retried.
            await deferral!.DeferAsync(deferred.Select(i => (jobs[i], firstTried[i])).ToArray(), priority, cancellationToken);
            logger.LogInformation("{Count} item(s) outlasted the per-item fetch budget ({Budget} s) and went back to the {Priority} queue",
                deferred.Count, fetchOptions.ItemBudgetSeconds, priority);
            WorkerTelemetry.Deferred.Add(deferred.Count, new KeyValuePair<string, object?>("messaging.destination.name", fleet.QueueName(priority)));
        }
        var (embedded, present, dead) = await WriteOutcomesAsync(jobs, outcomes, PartKeys(jobs, schemaProblems), mayBeDone, stages, cancellationToken);
        outcomes = outcomes.Where((_, i) => !deferred.Contains(i)).ToArray();
        var report = new BatchReport(embedded, present + alreadyDone, dead, timings, System.Diagnostics.Stopwatch.GetElapsedTime(writeStarted), deferred.Count);
        span.Complete(report, outcomes);
        if (logger.IsEnabled(LogLevel.Debug))
        {
            // Where a batch's wall clock went: waiting for its first image's bytes (fetch round trips), its compute (first
            // bytes to last inference call, shared with concurrent batches), its writes (the part's PUT, dead letters).
            var wall = System.Diagnostics.Stopwatch.GetElapsedTime(batchStarted);
            logger.LogDebug("{Priority} batch of {Items}: {Wall:0} ms; before the first image's bytes {FirstBytes:0} ms, compute {Compute:0} ms, writes {Write:0} ms",
                priority, jobs.Count, wall.TotalMilliseconds, (wall - timings.ComputeWall - report.Write).TotalMilliseconds, timings.ComputeWall.TotalMilliseconds,
                report.Write.TotalMilliseconds);
        }

        var done = time.GetUtcNow();
        var latencies = jobs.Where((j, i) => j.EnqueuedAt is not null && !deferred.Contains(i)).Select(j => (done - j.EnqueuedAt!.Value).TotalSeconds).ToArray();
        var reasons = outcomes.Where(o => o.Rejection is not null).GroupBy(o => o.Rejection!.Value.Code)
            .ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        ledger.Record(new BatchCompletedEventArgs(priority, jobs.Count - deferred.Count + alreadyDone, report, latencies, reasons));
        return report;
    }

    /// <summary>
    /// The images of an online query (<c>POST /v1/embed</c>): fetched, decoded and embedded now, in the most urgent class
    /// (the batch claim holds back every less urgent stage while the query runs), under the same rules as a job of the
    /// tenant (source allow-list, model bundle); nothing is written. One outcome per source, in order.
    /// </summary>
    /// <param name="stages">The query's stage gate (its claim on the first level is taken here).</param>
    public async Task<ItemOutcome[]> EmbedQueryImagesAsync(string tenant, IReadOnlyList<string> images, IStageGate? stages, CancellationToken cancellationToken)
    {
        var jobs = images.Select((image, i) => new EmbedCatalogImage
        {
            Tenant = tenant, Shard = "query", ItemId = $"query-{i}", Image = image, Priority = fleet.Priorities[0],
        }).ToArray();
        var unbundled = await TenantsWithoutBundleAsync(jobs, cancellationToken);
        var refused = new Rejection?[jobs.Length];
        for (var i = 0; i < jobs.Length; i++)
        {
            if (!JobValidator.IsSafeSegment(tenant)) refused[i] = new Rejection(ReasonCodes.InvalidJob, $"tenant '{tenant}' is not a valid tenant name");
            else if (!sources.Allows(tenant, jobs[i].Image, out var why)) refused[i] = new Rejection(ReasonCodes.SourceForbidden, why!);
            else if (unbundled.Contains(tenant)) refused[i] = new Rejection(ReasonCodes.ModelBundleMissing, $"tenant {tenant} has no bundle for model {Revision}");
        }
        using var claim = fleet.PriorityScheduling ? gate.Claim(0) : null;
        var sourcesOf = jobs.Select((job, i) => (Func<CancellationToken, Task<ImageSource>>)(async ct =>
        {
            if (refused[i] is { } r) return ImageSource.Rejected(r);
            var fetched = await fetcher.FetchAsync(job.Image, ct);
            return new ImageSource(fetched.Bytes, fetched.Rejection, fetched.Elapsed);
        })).ToArray();
        var (outcomes, _) = await pipeline.ProcessAsync(sourcesOf, fleet.EffectivePreprocessParallelism, Math.Max(1, jobs.Length), cancellationToken, stages);
        return outcomes;
    }

    /// <summary>With a tenant-bound model bundle: the batch's tenants that have no bundle for this revision.</summary>
    private async Task<HashSet<string>> TenantsWithoutBundleAsync(IReadOnlyList<EmbedCatalogImage> jobs, CancellationToken cancellationToken)
    {
        var missing = new HashSet<string>(StringComparer.Ordinal);
        if (!bundles.Enforced) return missing;
        foreach (var tenant in jobs.Select(j => j.Tenant).Where(JobValidator.IsSafeSegment).Distinct(StringComparer.Ordinal))
            if (!await bundles.HasBundleAsync(tenant, Revision, cancellationToken)) missing.Add(tenant);
        return missing;
    }

    /// <summary>Jobs refused before any fetch, with their reason: the schema, the validator's rules, the publisher's right
    /// to act for the tenant, the tenant's source allow-list, the model revision and bundle, the deadline.</summary>
    private Rejection?[] Refuse(IReadOnlyList<EmbedCatalogImage> jobs, IReadOnlyList<IReadOnlyList<string>>? schemaProblems, HashSet<string> unbundled)
    {
        var now = time.GetUtcNow();
        var refused = new Rejection?[jobs.Count];
        for (var i = 0; i < jobs.Count; i++)
        {
            var job = jobs[i];
            // The publisher first: a job it may not send for its tenant is recorded apart whatever else is wrong with it, so
            // an invalid job cannot overwrite the claimed tenant's dead letters either.
            if (publishers is { Required: true } && publishers.Refusal(job.Publisher, job.Tenant) is { } unauthorized)
            {
                refused[i] = new Rejection(ReasonCodes.PublisherNotAuthorized, $"job for tenant {job.Tenant}: {unauthorized}");
                continue;
            }
            var problems = schemaProblems?[i] is { Count: > 0 } schema ? schema : JobValidator.Validate(job, fleet.Priorities, fetchOptions.AllowFileScheme);
            if (problems.Count > 0) refused[i] = new Rejection(ReasonCodes.InvalidJob, string.Join("; ", problems));
            else if (!sources.Allows(job.Tenant, job.Image, out var why)) refused[i] = new Rejection(ReasonCodes.SourceForbidden, why!);
            else if (job.ModelRevision.Length > 0 && job.ModelRevision != Revision)
                refused[i] = new Rejection(ReasonCodes.ModelRevisionMismatch, $"job asks for {job.ModelRevision}; this worker serves {Revision}");
            else if (unbundled.Contains(job.Tenant))
                refused[i] = new Rejection(ReasonCodes.ModelBundleMissing,
                    $"tenant {job.Tenant} has no bundle for model {Revision} (models/{job.Tenant}/{Revision}/): push one with `ingestfleet models push MANIFEST --tenant {job.Tenant}`");
            else if (job.Deadline is { } deadline && deadline < now)
                refused[i] = new Rejection(ReasonCodes.DeadlinePassed, $"deadline {deadline:O} passed before the job started");
        }
        return refused;
    }

    /// <param name="onBudgetStart">Told when the item was first tried (this delivery's start, or an earlier deferral's).</param>
    private Func<CancellationToken, Task<ImageSource>> FetchSource(EmbedCatalogImage job, Rejection? refused, SemaphoreSlim fetchGate, IStageGate? stages,
        Action<DateTimeOffset> onBudgetStart) =>
        async ct =>
        {
            if (refused is { } r) return ImageSource.Rejected(r);
            await fetchGate.WaitAsync(ct);
            try
            {
                if (stages is not null) await stages.WaitForTurnAsync(ct);
                if (deferral is null || fetchOptions.ItemBudgetSeconds <= 0)
                {
                    var whole = await fetcher.FetchAsync(job.Image, ct);
                    return new ImageSource(whole.Bytes, whole.Rejection, whole.Elapsed);
                }
                // The batch waits this long for the item's fetch (once it has a fetch slot), on the injected clock; then it
                // goes on without it. The item's transient budget counts from its first try, on whichever delivery.
                var started = time.GetUtcNow();
                var since = job.DeferredSince is { } earlier && earlier < started ? earlier : started;
                onBudgetStart(since);
                using var budget = new CancellationTokenSource(TimeSpan.FromSeconds(fetchOptions.ItemBudgetSeconds), time);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, budget.Token);
                try
                {
                    var f = await fetcher.FetchAsync(job.Image, linked.Token);
                    return new ImageSource(f.Bytes, f.Rejection, f.Elapsed);
                }
                catch (OperationCanceledException) when (budget.IsCancellationRequested && !ct.IsCancellationRequested)
                {
                    var waited = time.GetUtcNow() - since;
                    return ImageSource.Rejected(waited.TotalSeconds < fetchOptions.TransientBudgetSeconds
                        ? new Rejection(DeferredCode, $"not fetched within the per-item budget ({fetchOptions.ItemBudgetSeconds} s)")
                        : new Rejection(ReasonCodes.TransientExhausted,
                            $"not fetched within the per-item budget ({fetchOptions.ItemBudgetSeconds} s) on any delivery since {since:O} ({waited.TotalSeconds:0} s, past the {fetchOptions.TransientBudgetSeconds} s transient budget)"));
                }
            }
            finally
            {
                fetchGate.Release();
            }
        };

    /// <summary>Exactly one outcome per item: its vector in its shard's part file, or a dead-letter record.</summary>
    private async Task<(int Embedded, int Present, int Dead)> WriteOutcomesAsync(IReadOnlyList<EmbedCatalogImage> jobs, ItemOutcome[] outcomes,
        Dictionary<(string Tenant, string Revision, string Shard), string> partKeys, IReadOnlyList<bool>? mayBeDone, IStageGate? stages,
        CancellationToken cancellationToken)
    {
        var contract = pipeline.Preprocessor.ContractHash;
        int embedded = 0, present = 0, dead = 0;
        using var writeGate = new SemaphoreSlim(WriteConcurrency);
        var vectors = jobs.Select((job, i) => (job, i)).Where(x => outcomes[x.i].Rejection is null)
            .GroupBy(x => GroupOf(x.job)).ToList();
        // Writes share one concurrency cap and, under priority scheduling, wait for their turn.
        async Task Gated(Func<Task> write)
        {
            await writeGate.WaitAsync(cancellationToken);
            try
            {
                if (stages is not null) await stages.WaitForTurnAsync(cancellationToken);
                await write();
            }
            finally
            {
                writeGate.Release();
            }
        }
        var parts = vectors.Select(g => Gated(async () =>
        {
            var items = g.Select(x => new VectorItem(x.job, g.Key.Revision, outcomes[x.i].Vector!)).ToList();
            var (written, already) = await writer.WritePartAsync(partKeys[g.Key], items, contract, cancellationToken);
            Interlocked.Add(ref embedded, written);
            Interlocked.Add(ref present, already);
            // An item that may have failed before (a replay, a redelivery) loses its older dead letter.
            foreach (var (job, _) in g.Where(x => x.job.Replays > 0 || mayBeDone?[x.i] == true))
                await writer.RemoveDeadLetterAsync(job, g.Key.Revision, cancellationToken);
        }));
        var deadLetters = jobs.Select((job, i) => (job, i)).Where(x => outcomes[x.i].Rejection is { } r && r.Code != DeferredCode).Select(x => Gated(async () =>
        {
            var rejection = outcomes[x.i].Rejection!.Value;
            // A job its publisher may not send for its tenant is recorded apart (the job as sent, under another key), so no
            // producer can write into another tenant's dead letters.
            await writer.WriteDeadLetterAsync(SafeForKeys(x.job), RevisionFor(x.job), rejection.Code, rejection.Detail, cancellationToken,
                keyTenant: rejection.Code == ReasonCodes.PublisherNotAuthorized ? PublisherIdentity.UnauthorizedTenant : null);
            Interlocked.Increment(ref dead);
            logger.LogInformation("dead-lettered {Tenant}/{Shard}/{Item}: {Reason} ({Detail})", x.job.Tenant, x.job.Shard, x.job.ItemId, rejection.Code, rejection.Detail);
        }));
        await Task.WhenAll(parts.Concat(deadLetters));
        return (embedded, present, dead);
    }

    /// <summary>An invalid job still gets a dead-letter record: unusable key segments are replaced, the original job is kept.</summary>
    private static EmbedCatalogImage SafeForKeys(EmbedCatalogImage job) => job with
    {
        Tenant = JobValidator.IsSafeSegment(job.Tenant) ? job.Tenant : "_invalid",
        Shard = JobValidator.IsSafeSegment(job.Shard) ? job.Shard : "_invalid",
        ItemId = string.IsNullOrEmpty(job.ItemId) ? $"_missing-{Guid.NewGuid():N}" : job.ItemId,
    };
}
