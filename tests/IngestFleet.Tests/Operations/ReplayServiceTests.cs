using IngestFleet.Contracts;
using IngestFleet.Messaging.Limits;
using IngestFleet.Messaging.Publishing;
using IngestFleet.Operations.Replay;
using IngestFleet.Storage;

namespace IngestFleet.Tests.Operations;

/// <summary>Replay on the real local store, with a publisher and a depth source behind their interfaces.</summary>
public sealed class ReplayServiceTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ingestfleet-replay-");
    private readonly LocalDirectoryStore _store;
    private static readonly DateTimeOffset T0 = new(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);

    public ReplayServiceTests() => _store = new LocalDirectoryStore(_dir.FullName);

    public void Dispose() => _dir.Delete(recursive: true);

    private async Task<List<string>> ParkAsync(int count, string reason = ReasonCodes.TransientExhausted, int hoursAfterT0 = 0, string prefix = "item")
    {
        var keys = new List<string>();
        for (var i = 0; i < count; i++)
        {
            var job = new EmbedCatalogImage { Tenant = "acme", Shard = "s1", ItemId = $"{prefix}-{i:D6}", Image = "s3://b/k.jpg", Priority = "bulk" };
            var key = StorageKeys.DeadLetter(job, "r1");
            var at = T0.AddHours(hoursAfterT0);
            await _store.PutAsync(key, new DeadLetterRecord { Job = job, Reason = reason, Detail = "d", ModelRevision = "r1", FirstFailedAt = at, LastFailedAt = at }.ToJson(),
                DeadLetterRecord.ContentType, CancellationToken.None);
            keys.Add(key);
        }
        return keys;
    }

    private async Task<int> UnmarkedAsync()
    {
        var n = 0;
        await foreach (var key in _store.ListAsync("dead-letter/", CancellationToken.None))
            if (DeadLetterRecord.FromJson((await _store.GetAsync(key, CancellationToken.None))!).ReplayedAt is null) n++;
        return n;
    }

    [Fact]
    public async Task ACrashMidway_LeavesUnmarkedExactlyWhatWasNotConfirmed_AndTheRerunPublishesOnlyThat()
    {
        await ParkAsync(50);
        var crashing = new RecordingPublisher { CrashOnCall = 3 }; // chunks of 10: two confirmed, then the process "dies"
        var service = new ReplayService(_store, crashing, TimeProvider.System) { ChunkSize = 10 };
        await Assert.ThrowsAsync<IOException>(() => service.ReplayAsync("dead-letter/", new ReplayFilter(), dryRun: false, null, CancellationToken.None));
        Assert.Equal(20, crashing.Published.Count);
        Assert.Equal(30, await UnmarkedAsync());

        var healthy = new RecordingPublisher();
        var summary = await new ReplayService(_store, healthy, TimeProvider.System) { ChunkSize = 10 }
            .ReplayAsync("dead-letter/", new ReplayFilter(), dryRun: false, null, CancellationToken.None);
        Assert.Equal(30, summary.Republished);
        Assert.Equal(20, summary.AlreadyReplayed);
        Assert.Empty(crashing.Published.Select(j => j.ItemId).Intersect(healthy.Published.Select(j => j.ItemId)));
        Assert.Equal(0, await UnmarkedAsync());
        Assert.All(healthy.Published, j => Assert.Equal(1, j.Replays));
    }

    [Fact]
    public async Task UnconfirmedJobs_StayUnmarked()
    {
        await ParkAsync(12);
        var publisher = new RecordingPublisher { RefuseEvery = 3 };
        var summary = await new ReplayService(_store, publisher, TimeProvider.System).ReplayAsync("dead-letter/", new ReplayFilter(), false, null, CancellationToken.None);
        Assert.Equal(4, summary.Failed);
        Assert.Equal(8, summary.Republished);
        Assert.Equal(4, await UnmarkedAsync());
    }

    [Fact]
    public async Task ARecordThatChangedAfterItWasRead_IsNotMarked()
    {
        var keys = await ParkAsync(3);
        // The "worker" fails the job again while the replay publishes: its newer record must stay pending.
        var publisher = new RecordingPublisher
        {
            OnPublish = () =>
            {
                var r = DeadLetterRecord.FromJson(_store.GetAsync(keys[0], CancellationToken.None).Result!);
                _store.PutAsync(keys[0], (r with { Attempts = 2, LastFailedAt = r.LastFailedAt.AddMinutes(1) }).ToJson(), DeadLetterRecord.ContentType, CancellationToken.None).Wait();
                _store.DeleteAsync(keys[1], CancellationToken.None).Wait(); // and finished another one, removing its record
            },
        };
        await new ReplayService(_store, publisher, TimeProvider.System).ReplayAsync("dead-letter/", new ReplayFilter(), false, null, CancellationToken.None);
        Assert.Null(DeadLetterRecord.FromJson((await _store.GetAsync(keys[0], CancellationToken.None))!).ReplayedAt);
        Assert.Null(await _store.GetAsync(keys[1], CancellationToken.None)); // not resurrected by the mark
        Assert.NotNull(DeadLetterRecord.FromJson((await _store.GetAsync(keys[2], CancellationToken.None))!).ReplayedAt);
    }

    [Fact]
    public async Task ReasonAndSince_FilterTheRecords()
    {
        await ParkAsync(5, ReasonCodes.TransientExhausted, hoursAfterT0: 0, prefix: "old");
        await ParkAsync(7, ReasonCodes.TransientExhausted, hoursAfterT0: 48, prefix: "new");
        await ParkAsync(4, ReasonCodes.Poison, hoursAfterT0: 48, prefix: "poison");
        var publisher = new RecordingPublisher();
        var summary = await new ReplayService(_store, publisher, TimeProvider.System)
            .ReplayAsync("dead-letter/", new ReplayFilter(ReasonCodes.TransientExhausted, T0.AddHours(24)), false, null, CancellationToken.None);
        Assert.Equal(16, summary.Found);
        Assert.Equal(7, summary.Matched);
        Assert.Equal(7, summary.Republished);
        Assert.All(publisher.Published, j => Assert.StartsWith("new-", j.ItemId, StringComparison.Ordinal));
    }

    [Fact]
    public async Task ItStreams_PublishingInChunksWhileStillListing()
    {
        await ParkAsync(3000);
        var listing = new CountingStore(_store);
        var publisher = new RecordingPublisher();
        var summary = await new ReplayService(listing, publisher, TimeProvider.System) { ChunkSize = 256 }
            .ReplayAsync("dead-letter/", new ReplayFilter(), false, null, CancellationToken.None);
        Assert.Equal(3000, summary.Republished);
        Assert.Equal(12, publisher.Calls);                     // ceil(3000 / 256)
        Assert.True(publisher.LargestCall <= 256);             // never more than one chunk held
        Assert.InRange(publisher.ListedAtFirstCall(listing), 256, 300); // the first chunk went out long before the listing ended
    }

    [Fact]
    public async Task ItPauses_WhileTheTargetQueueIsPastItsMaxDepth()
    {
        await ParkAsync(20);
        var depths = new SequenceDepth("it-bulk", 995, 995, 990, 10); // max depth 1,000: 20 more would not fit until it drains
        var limits = new[] { new QueueLimit("bulk", "it-bulk", 1000, 800, 60, 0) };
        var publisher = new RecordingPublisher();
        var summary = await new ReplayService(_store, publisher, TimeProvider.System, depths, limits) { PausePoll = TimeSpan.FromMilliseconds(50) }
            .ReplayAsync("dead-letter/", new ReplayFilter(), false, null, CancellationToken.None);
        Assert.Equal(20, summary.Republished);
        Assert.Equal(4, depths.Reads);
        Assert.True(summary.PausedSeconds >= 0.1, $"paused {summary.PausedSeconds} s");
    }

    private sealed class RecordingPublisher : IJobPublisher
    {
        public List<EmbedCatalogImage> Published { get; } = [];
        public int CrashOnCall { get; init; }
        public int RefuseEvery { get; init; }
        public Action? OnPublish { get; init; }
        public int Calls { get; private set; }
        public int LargestCall { get; private set; }
        private int? _listedAtFirstCall;

        public int ListedAtFirstCall(CountingStore store) => _listedAtFirstCall ?? store.Listed;

        public Task<PublishSummary> PublishAsync(IReadOnlyList<EmbedCatalogImage> jobs, Action<int>? progress, CancellationToken cancellationToken)
        {
            Calls++;
            _listedAtFirstCall ??= CountingStore.Current?.Listed;
            LargestCall = Math.Max(LargestCall, jobs.Count);
            if (CrashOnCall > 0 && Calls == CrashOnCall) throw new IOException("the process died here");
            OnPublish?.Invoke();
            var failed = new List<(EmbedCatalogImage, string)>();
            for (var i = 0; i < jobs.Count; i++)
                if (RefuseEvery > 0 && i % RefuseEvery == 0) failed.Add((jobs[i], "nack"));
                else Published.Add(jobs[i]);
            return Task.FromResult(new PublishSummary(jobs.Count - failed.Count, failed));
        }
    }

    private sealed class CountingStore(IObjectStore inner) : IObjectStore
    {
        public static CountingStore? Current { get; private set; }
        public int Listed { get; private set; }
        public string Location => inner.Location;
        public Task PutAsync(string key, ReadOnlyMemory<byte> content, string contentType, CancellationToken ct) => inner.PutAsync(key, content, contentType, ct);
        public Task<byte[]?> GetAsync(string key, CancellationToken ct) => inner.GetAsync(key, ct);
        public Task<bool> ExistsAsync(string key, CancellationToken ct) => inner.ExistsAsync(key, ct);
        public Task DeleteAsync(string key, CancellationToken ct) => inner.DeleteAsync(key, ct);
        public Task ProbeAsync(CancellationToken ct) => inner.ProbeAsync(ct);

        public async IAsyncEnumerable<string> ListAsync(string prefix, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
        {
            Current = this;
            await foreach (var key in inner.ListAsync(prefix, ct))
            {
                Listed++;
                yield return key;
            }
        }
    }

    private sealed class SequenceDepth(string queue, params long[] depths) : IDepthSource
    {
        public int Reads { get; private set; }

        public Task<DepthSnapshot> GetAsync(CancellationToken cancellationToken, bool fresh = false)
        {
            var depth = depths[Math.Min(Reads++, depths.Length - 1)];
            var sample = new QueueSample(queue, depth, 0, 1, 0, 0, DateTimeOffset.UtcNow);
            return Task.FromResult(new DepthSnapshot(new Dictionary<string, QueueSample> { [queue] = sample }, null, DateTimeOffset.UtcNow));
        }
    }

    /// <summary>Records that cannot be replayed (the poison drain's _invalid records with an empty priority, a priority
    /// no queue has) are reported with the reason and left as they are; the valid records of the same chunk are
    /// republished and marked (issue 21: one bad record failed its whole 256-job chunk on the broker).</summary>
    [Fact]
    public async Task RecordsThatCannotBeReplayed_AreReported_AndNeverBreakTheirChunk()
    {
        await ParkAsync(5);
        var invalid = new EmbedCatalogImage { Tenant = "_invalid", Shard = "_poison", ItemId = "delivery-1", Image = "", Priority = "" };
        var unknown = new EmbedCatalogImage { Tenant = "acme", Shard = "s1", ItemId = "lost-class", Image = "s3://b/k.jpg", Priority = "urgent" };
        foreach (var job in new[] { invalid, unknown })
            await _store.PutAsync(StorageKeys.DeadLetter(job, "r1"), new DeadLetterRecord { Job = job, Reason = ReasonCodes.InvalidJob, Detail = "d", ModelRevision = "r1", FirstFailedAt = T0, LastFailedAt = T0 }.ToJson(),
                DeadLetterRecord.ContentType, CancellationToken.None);
        var publisher = new RecordingPublisher();
        var summary = await new ReplayService(_store, publisher, TimeProvider.System) { ChunkSize = 256 }
            .ReplayAsync("dead-letter/", new ReplayFilter(), dryRun: false, null, CancellationToken.None);
        Assert.Equal(5, summary.Republished);
        Assert.Equal(2, summary.NotReplayable);
        Assert.Equal(5, publisher.Published.Count);
        Assert.DoesNotContain(publisher.Published, j => j.Priority is "" or "urgent");
        Assert.Contains(summary.Errors, e => e.Contains("lost-class", StringComparison.Ordinal) && e.Contains("urgent", StringComparison.Ordinal));
        Assert.Contains(summary.Errors, e => e.Contains("delivery-1", StringComparison.Ordinal) && e.Contains("not replayable", StringComparison.Ordinal));
        Assert.Equal(2, await UnmarkedAsync()); // the two stay as they are, for a person to look at
    }
}
