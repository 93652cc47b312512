using System.Text.Json.Serialization;
using IngestFleet.Messaging.Limits;
using IngestFleet.Messaging.Publishing;
using IngestFleet.Storage;

namespace IngestFleet.Operations.Replay;

/// <summary>Which parked records a replay takes, and where it sends them.</summary>
/// <param name="Reason">Only records with this reason code (null: every reason).</param>
/// <param name="Since">Only records whose last failure is at or after this time (null: any time).</param>
/// <param name="ModelRevision">Replay against this model revision (null: each job's own).</param>
/// <param name="Priority">Replay into this queue (null: each job's original priority).</param>
public sealed record ReplayFilter(string? Reason = null, DateTimeOffset? Since = null, string? ModelRevision = null, string? Priority = null);

/// <summary>What one replay run did. <see cref="Found"/> counts every record under the prefix; the rest only those
/// that matched the filter.</summary>
public sealed record ReplaySummary(
    [property: JsonPropertyName("found")] int Found,
    [property: JsonPropertyName("matched")] int Matched,
    [property: JsonPropertyName("already_replayed")] int AlreadyReplayed,
    [property: JsonPropertyName("republished")] int Republished,
    [property: JsonPropertyName("not_confirmed")] int Failed,
    [property: JsonPropertyName("not_replayable")] int NotReplayable,
    [property: JsonPropertyName("paused_seconds")] double PausedSeconds,
    [property: JsonPropertyName("errors")] IReadOnlyList<string> Errors,
    [property: JsonPropertyName("dry_run")] bool DryRun);

/// <summary>Progress while a replay streams: records listed so far, jobs republished so far, and whether it is
/// paused because a target queue is past its published max depth.</summary>
public readonly record struct ReplayProgress(int Listed, int Republished, bool Paused);

/// <summary>
/// Republishes parked jobs (dead letters, shed jobs) found under a key prefix. It streams: records are listed and read
/// page by page and published in chunks of <see cref="ChunkSize"/>, so memory stays constant however many records
/// there are. Each record is marked replayed only after the broker confirmed its job, and only if it is still the
/// record that was read (a worker that already failed the job again, or finished it and removed the record, wins).
/// A run that crashes at any point leaves unmarked exactly the records whose publish was not confirmed and marked; a
/// rerun republishes those (a job published twice still yields one vector: keys are deterministic). Before each
/// chunk, a target queue past its published max depth pauses the replay until it drains. Each job is validated as the
/// gateway validates one (the job schema, a priority this fleet has, the source rules) before it joins a chunk: a record
/// that cannot be replayed (the poison drain's <c>_invalid</c> records, a priority no queue has) is reported with the
/// reason and left as it is, and never reaches the broker, where an unroutable publish would close the channel and
/// fail the whole chunk.
/// </summary>
public sealed class ReplayService(IObjectStore store, IJobPublisher publisher, TimeProvider time, IDepthSource? depths = null,
    IReadOnlyList<QueueLimit>? limits = null)
{
    public int ChunkSize { get; init; } = 256;

    /// <summary>The fleet's priority classes: a job is replayed only into one of them.</summary>
    public IReadOnlyCollection<string> Priorities { get; init; } = [.. IngestFleet.Messaging.FleetOptions.DefaultPriorityClasses];
    public TimeSpan PausePoll { get; init; } = TimeSpan.FromSeconds(2);

    public async Task<ReplaySummary> ReplayAsync(string prefix, ReplayFilter filter, bool dryRun, Action<ReplayProgress>? progress,
        CancellationToken cancellationToken)
    {
        int found = 0, matched = 0, alreadyReplayed = 0, republished = 0, failed = 0, notReplayable = 0;
        var paused = TimeSpan.Zero;
        var errors = new List<string>();
        var chunk = new List<(string Key, DeadLetterRecord Record, IngestFleet.Contracts.EmbedCatalogImage Job)>(ChunkSize);
        await foreach (var key in store.ListAsync(prefix, cancellationToken))
        {
            if (!key.EndsWith(".json", StringComparison.Ordinal)) continue;
            DeadLetterRecord record;
            try
            {
                if (await store.GetAsync(key, cancellationToken) is not { } bytes) continue; // removed since listed: done
                record = DeadLetterRecord.FromJson(bytes);
            }
            catch (System.Text.Json.JsonException e)
            {
                errors.Add($"{key}: unreadable record ({e.Message}); left as it is");
                continue;
            }
            found++;
            if (filter.Reason is { } reason && record.Reason != reason) continue;
            if (filter.Since is { } since && record.LastFailedAt < since) continue;
            matched++;
            if (record.ReplayedAt is not null)
            {
                alreadyReplayed++;
                continue;
            }
            var job = record.Job with
            {
                ModelRevision = filter.ModelRevision ?? record.Job.ModelRevision,
                Priority = filter.Priority ?? record.Job.Priority,
                Replays = record.Job.Replays + 1,
                EnqueuedAt = null,
                Publisher = record.Publisher, // republished on behalf of the job's first publisher
            };
            if (Problems(job) is { Count: > 0 } problems)
            {
                notReplayable++;
                errors.Add($"{key}: not replayable ({string.Join("; ", problems)}); left as it is");
                continue;
            }
            chunk.Add((key, record, job));
            if (chunk.Count >= ChunkSize) await FlushAsync();
            progress?.Invoke(new ReplayProgress(found, republished, false));
        }
        await FlushAsync();
        progress?.Invoke(new ReplayProgress(found, republished, false));
        return new ReplaySummary(found, matched, alreadyReplayed, dryRun ? matched - alreadyReplayed - notReplayable : republished, failed, notReplayable,
            paused.TotalSeconds, errors, dryRun);

        async Task FlushAsync()
        {
            if (chunk.Count == 0 || dryRun)
            {
                chunk.Clear();
                return;
            }
            var jobs = chunk.Select(r => r.Job).ToList();
            paused += await WaitForRoomAsync(jobs, () => progress?.Invoke(new ReplayProgress(found, republished, true)), cancellationToken);
            var summary = await publisher.PublishAsync(jobs, null, cancellationToken);
            var notConfirmed = summary.Failed.Select(f => f.Job.Key).ToHashSet(StringComparer.Ordinal);
            errors.AddRange(summary.Failed.Select(f => $"{f.Job.Key}: not confirmed by the broker ({f.Error}); left unmarked for the next run"));
            failed += summary.Failed.Count;
            var now = time.GetUtcNow();
            foreach (var (key, record, _) in chunk.Where(c => !notConfirmed.Contains(c.Record.Job.Key)))
            {
                republished++;
                await MarkReplayedAsync(key, record, now, cancellationToken);
            }
            chunk.Clear();
        }
    }

    /// <summary>Why a job cannot be published as it stands: the gateway's checks (schema, known priority, sources).</summary>
    private List<string> Problems(IngestFleet.Contracts.EmbedCatalogImage job)
    {
        var problems = new List<string>(IngestFleet.Contracts.JobSchema.Evaluate(IngestFleet.Contracts.JobJson.Serialize(job)));
        if (problems.Count == 0) problems.AddRange(IngestFleet.Contracts.JobValidator.Validate(job, Priorities, allowFileScheme: false));
        return problems;
    }

    /// <summary>Marks the record replayed unless it changed since it was read: a worker already wrote a newer failure
    /// (that one stays pending) or removed it after a success (it stays removed).</summary>
    private async Task MarkReplayedAsync(string key, DeadLetterRecord read, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (await store.GetVersionedAsync(key, cancellationToken) is not { } versioned) return;
        var current = DeadLetterRecord.FromJson(versioned.Content);
        if (current.LastFailedAt != read.LastFailedAt || current.Attempts != read.Attempts || current.ReplayedAt is not null) return;
        // Conditional: a worker that fails the job again between this read and the write keeps its newer record.
        await store.PutIfUnchangedAsync(key, (current with { ReplayedAt = now, ReplayCount = current.ReplayCount + 1 }).ToJson(),
            DeadLetterRecord.ContentType, versioned.Version, cancellationToken);
    }

    /// <summary>Waits while a queue this chunk goes to would pass its published max depth.</summary>
    private async Task<TimeSpan> WaitForRoomAsync(IReadOnlyList<Contracts.EmbedCatalogImage> jobs, Action onPause, CancellationToken cancellationToken)
    {
        if (depths is null || limits is null) return TimeSpan.Zero;
        var started = time.GetTimestamp();
        var perPriority = jobs.GroupBy(j => j.Priority, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        while (true)
        {
            var snapshot = await depths.GetAsync(cancellationToken, fresh: true);
            var full = snapshot.BrokerReachable && limits.Any(l => perPriority.TryGetValue(l.Priority, out var n)
                && snapshot.Queues.TryGetValue(l.Queue, out var sample) && sample.Depth + n > l.MaxDepth);
            if (!full) return time.GetElapsedTime(started);
            onPause();
            await Task.Delay(PausePoll, time, cancellationToken);
        }
    }
}
