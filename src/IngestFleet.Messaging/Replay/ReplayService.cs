using IngestFleet.Messaging.Publishing;
using IngestFleet.Storage;



namespace IngestFleet.Messaging.Replay;

public sealed record ReplaySummary(int Found, int AlreadyReplayed, int Republished, int Failed, IReadOnlyList<string> Errors);

/// <summary>
/// Republishes parked jobs (dead letters, and shed jobs) found under a key prefix, then stamps each record as replayed.
/// Records already stamped are skipped, so a second run publishes nothing; and because vector keys are deterministic,
/// even a job published twice yields one vector.
/// </summary>
public sealed class ReplayService(IObjectStore store, IJobPublisher publisher, TimeProvider time)
{
    public async Task<ReplaySummary> ReplayAsync(string prefix, string? modelRevision, string? priority, bool dryRun,
        Action<int>? progress, CancellationToken cancellationToken)
    {
        var records = new List<(string Key, DeadLetterRecord Record)>();
        var errors = new List<string>();
        await foreach (var key in store.ListAsync(prefix, cancellationToken))
        {
            if (!key.EndsWith(".json", StringComparison.Ordinal)) continue;
            try
            {
                if (await store.GetAsync(key, cancellationToken) is { } bytes)
                    records.Add((key, DeadLetterRecord.FromJson(bytes)));
            }
            catch (System.Text.Json.JsonException e)
            {
                errors.Add($"{key}: unreadable record ({e.Message}); left as it is");
            }
        }
        var pending = records.Where(r => r.Record.ReplayedAt is null).ToList();
        var alreadyReplayed = records.Count - pending.Count;
        if (dryRun || pending.Count == 0)
            return new ReplaySummary(records.Count, alreadyReplayed, 0, 0, errors);

        // Stamp first, then publish: a worker that fails the replayed job again rewrites the record without the stamp,
        // and a stamp written after publishing could overwrite that newer failure.
        var now = time.GetUtcNow();
        foreach (var (key, record) in pending)
            await store.PutAsync(key, Stamp(record, now).ToJson(), DeadLetterRecord.ContentType, cancellationToken);
        var jobs = pending.Select(r => r.Record.Job with
        {
            ModelRevision = modelRevision ?? r.Record.Job.ModelRevision,
            Priority = priority ?? r.Record.Job.Priority,
            Replays = r.Record.Job.Replays + 1,
            EnqueuedAt = null,
        }).ToList();
        var summary = await publisher.PublishAsync(jobs, progress, cancellationToken);
        var failedKeys = summary.Failed.Select(f => f.Job.Key).ToHashSet();
        foreach (var (key, record) in pending.Where(p => failedKeys.Contains(p.Record.Job.Key)))
            await store.PutAsync(key, record.ToJson(), DeadLetterRecord.ContentType, cancellationToken); // not published: unstamp
        var republished = pending.Count - summary.Failed.Count;
        errors.AddRange(summary.Failed.Select(f => $"{f.Job.Key}: not confirmed by the broker ({f.Error})"));
        return new ReplaySummary(records.Count, alreadyReplayed, republished, summary.Failed.Count, errors);
    }

    private static DeadLetterRecord Stamp(DeadLetterRecord r, DateTimeOffset now) => r with { ReplayedAt = now, ReplayCount = r.ReplayCount + 1 };
}
