using IngestFleet.Contracts;
using IngestFleet.Storage;
using IngestFleet.VectorStore;
using Microsoft.Extensions.Time.Testing;

namespace IngestFleet.Tests.VectorStore;

/// <summary>A batch's part file on the real local store: created without a read, and merged when it already exists.</summary>
public sealed class ResultWriterTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ingestfleet-writer-");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 6, 8, 0, 0, TimeSpan.Zero));

    public void Dispose() => _dir.Delete(recursive: true);

    private static VectorItem Item(string id) =>
        new(new EmbedCatalogImage { Tenant = "acme", Shard = "s1", ItemId = id, Image = "s3://b/x.jpg", Priority = "bulk" }, "r1", [0.6f, 0.8f]);

    [Fact]
    public async Task ANewPart_IsOneCreateOnlyWrite_ARepeatedBatchKeepsItsRowsAndAddsOnlyTheMissingOnes()
    {
        var store = new CountingStore(new LocalDirectoryStore(_dir.FullName));
        var writer = new ResultWriter(store, _time);
        var key = StorageKeys.VectorPart("acme", "r1", "s1", ["b", "a"]);

        Assert.Equal((2, 0), await writer.WritePartAsync(key, [Item("b"), Item("a")], "c0ffee", CancellationToken.None));
        Assert.Equal((1, 0, 0), (store.CreateOnly, store.Gets, store.Puts)); // no read before a new part

        var first = await VectorParquet.ReadAsync(store, key);
        Assert.Equal(["a", "b"], first.Select(r => r.ItemId));
        _time.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal((1, 2), await writer.WritePartAsync(key, [Item("a"), Item("b"), Item("c")], "c0ffee", CancellationToken.None));
        var merged = await VectorParquet.ReadAsync(store, key);
        Assert.Equal(["a", "b", "c"], merged.Select(r => r.ItemId));
        Assert.Equal(first[0].WrittenAt, merged[0].WrittenAt); // rows already there are kept as they were
        Assert.NotEqual(first[0].WrittenAt, merged[2].WrittenAt);
        Assert.Equal((0, 3), await writer.WritePartAsync(key, [Item("a"), Item("b"), Item("c")], "c0ffee", CancellationToken.None));
    }

    private sealed class CountingStore(IObjectStore inner) : IObjectStore
    {
        public int Gets, Puts, CreateOnly;
        public string Location => inner.Location;
        public Task PutAsync(string key, ReadOnlyMemory<byte> content, string contentType, CancellationToken ct)
        {
            Puts++;
            return inner.PutAsync(key, content, contentType, ct);
        }

        public Task<bool> PutIfAbsentAsync(string key, ReadOnlyMemory<byte> content, string contentType, CancellationToken ct)
        {
            CreateOnly++;
            return inner.PutIfAbsentAsync(key, content, contentType, ct);
        }

        public Task<byte[]?> GetAsync(string key, CancellationToken ct)
        {
            Gets++;
            return inner.GetAsync(key, ct);
        }

        public Task<bool> ExistsAsync(string key, CancellationToken ct) => inner.ExistsAsync(key, ct);
        public IAsyncEnumerable<string> ListAsync(string prefix, CancellationToken ct) => inner.ListAsync(prefix, ct);
        public Task DeleteAsync(string key, CancellationToken ct) => inner.DeleteAsync(key, ct);
        public Task ProbeAsync(CancellationToken ct) => inner.ProbeAsync(ct);
    }
}
