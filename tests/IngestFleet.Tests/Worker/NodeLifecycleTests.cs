using IngestFleet.Embedding.Inference;
using IngestFleet.Storage;
using IngestFleet.Worker.Node;
using IngestFleet.Worker.Processing;
using IngestFleet.Worker.Profiles;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Logging.Abstractions;

namespace IngestFleet.Tests.Worker;

/// <summary>Lifecycle writers on one node (the launchd daemon, a soak, a restart overlapping the old process) write
/// concurrently to one store; none may lose another's events.</summary>
public sealed class NodeLifecycleTests
{
    [Fact]
    public async Task WritersOnOneNode_NeverLoseEachOthersEvents()
    {
        var store = new LocalDirectoryStore(Directory.CreateTempSubdirectory("ingestfleet-lifecycle-").FullName);
        using var embedder = Embedder.Load(TestPaths.Clip, new EmbedderOptions { ExecutionProvider = ExecutionProvider.Cpu, IntraOpThreads = 1, VerifyGoldenPack = false });
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["IngestFleet:Node:Id"] = "mac-7" }).Build();
        var writers = Enumerable.Range(0, 4).Select(_ => new NodeLifecycle(embedder, store, new FleetLedger(), new LoadedProfile(null, null), config,
            new ApplicationLifetime(NullLogger<ApplicationLifetime>.Instance), TimeProvider.System, NullLogger<NodeLifecycle>.Instance)).ToList();
        try
        {
            // Every writer starts and stops at the same time, twice over: with one shared object (read, append, write)
            // concurrent appends overwrite each other.
            for (var round = 0; round < 2; round++)
            {
                await Task.WhenAll(writers.Select(w => w.StartAsync(CancellationToken.None)));
                await Task.WhenAll(writers.Select(w => w.StopAsync(CancellationToken.None)));
            }
            var events = await NodeLifecycle.ReadAsync(store, "mac-7", CancellationToken.None);
            Assert.Equal(4 * 2 * 3, events.Count); // process_start, model_ready, stop per writer and round
            Assert.Equal(writers.Count, writers.Select(w => w.Key).Distinct().Count());
            Assert.All(writers, w => Assert.StartsWith(NodeLifecycle.Prefix("mac-7"), w.Key, StringComparison.Ordinal));
        }
        finally
        {
            foreach (var w in writers) w.Dispose();
        }
    }

    [Fact]
    public async Task TheLegacySharedFile_IsStillRead()
    {
        var store = new LocalDirectoryStore(Directory.CreateTempSubdirectory("ingestfleet-lifecycle-").FullName);
        await store.PutAsync(NodeLifecycle.LegacyKey("mac-7"),
            "{\"event\":\"process_start\",\"at\":\"2026-12-01T00:00:00+00:00\",\"node_id\":\"mac-7\",\"pid\":7}\n"u8.ToArray(), "application/x-ndjson", CancellationToken.None);
        var events = await NodeLifecycle.ReadAsync(store, "mac-7", CancellationToken.None);
        Assert.Equal("process_start", Assert.Single(events).Event);
    }
}
