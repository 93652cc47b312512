using System.IO.Compression;
using IngestFleet.Contracts;
using IngestFleet.Storage;
using IngestFleet.VectorStore;
using Microsoft.Extensions.Time.Testing;

namespace IngestFleet.Tests.VectorStore;

/// <summary>Part files, compaction and export on the real local store.</summary>
public sealed class VectorCompactorTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ingestfleet-compact-");
    private readonly LocalDirectoryStore _store;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 30, 8, 0, 0, TimeSpan.Zero));

    public VectorCompactorTests() => _store = new LocalDirectoryStore(_dir.FullName);

    public void Dispose() => _dir.Delete(recursive: true);

    private static EmbedCatalogImage Job(string id, string shard = "s1", string image = "s3://b/x.jpg") =>
        new() { Tenant = "acme", Shard = shard, ItemId = id, Image = image, Priority = "bulk" };

    private static float[] Vec(int seed, float jitter = 0)
    {
        var v = new float[8];
        for (var i = 0; i < v.Length; i++) v[i] = (float)Math.Sin(seed * 7 + i) + jitter;
        return v;
    }

    /// <summary>One batch's part file for its jobs in one shard, as the worker writes it.</summary>
    private async Task WriteBatchAsync(IEnumerable<(string Id, float[] V)> items, string shard = "s1", string image = "s3://b/x.jpg")
    {
        var list = items.Select(i => new VectorItem(Job(i.Id, shard, image), "r1", i.V)).ToList();
        var writer = new ResultWriter(_store, _time);
        await writer.WritePartAsync(StorageKeys.VectorPart("acme", "r1", shard, list.Select(i => i.Job.ItemId)), list, "c0ffee", CancellationToken.None);
        _time.Advance(TimeSpan.FromMinutes(1));
    }

    private async Task<List<string>> KeysAsync(string prefix)
    {
        var keys = new List<string>();
        await foreach (var k in _store.ListAsync(prefix, CancellationToken.None)) keys.Add(k);
        return keys;
    }

    [Fact]
    public async Task ABatchIsOnePartFile_AndTheSameBatchAgainLeavesItIdentical()
    {
        var batch = Enumerable.Range(0, 16).Select(i => ($"sku-{i:D2}", Vec(i))).ToList();
        await WriteBatchAsync(batch);
        var parts = await KeysAsync("vectors/");
        var first = await _store.GetAsync(Assert.Single(parts), CancellationToken.None);
        await WriteBatchAsync(batch); // redelivered: same key, rows kept as they were
        Assert.Equal(parts, await KeysAsync("vectors/"));
        Assert.Equal(first, await _store.GetAsync(parts[0], CancellationToken.None));
        Assert.Equal(16, (await VectorParquet.DeserializeAsync(first!)).Count);
    }

    [Fact]
    public async Task Compaction_KeepsEveryItemOnce_CollapsesIdenticalRows_SetsConflictsAside_RemovesStaleDeadLetters()
    {
        await WriteBatchAsync(Enumerable.Range(0, 10).Select(i => ($"sku-{i:D2}", Vec(i))));
        // A redelivery regrouped: sku-05..09 again (identical but for float noise) with new ones, so another part.
        await WriteBatchAsync(Enumerable.Range(5, 10).Select(i => ($"sku-{i:D2}", Vec(i, i < 10 ? 1e-7f : 0))));
        // sku-20 once from one source, once from another: a conflict, not to be chosen between.
        await WriteBatchAsync([("sku-20", Vec(20))]);
        await WriteBatchAsync([("sku-20", Vec(21)), ("sku-21", Vec(22))], image: "s3://b/other.jpg");
        // A poison record written for an item whose batch had finished.
        var stale = new DeadLetterRecord { Job = Job("sku-03"), Reason = ReasonCodes.Poison, Detail = "d", ModelRevision = "r1" };
        await _store.PutAsync(StorageKeys.DeadLetter(Job("sku-03"), "r1"), stale.ToJson(), DeadLetterRecord.ContentType, CancellationToken.None);
        var live = new DeadLetterRecord { Job = Job("sku-99"), Reason = ReasonCodes.Corrupt, Detail = "d", ModelRevision = "r1" };
        await _store.PutAsync(StorageKeys.DeadLetter(Job("sku-99"), "r1"), live.ToJson(), DeadLetterRecord.ContentType, CancellationToken.None);

        var report = await new VectorCompactor(_store).CompactAsync("vectors/acme/", null, CancellationToken.None);
        Assert.Equal((1, 4, 23, 16, 5), (report.Shards, report.InputFiles, report.RowsRead, report.Items, report.DuplicatesCollapsed));
        Assert.Equal(["vectors/acme/r1/s1/sku-20"], report.ConflictingItems);
        Assert.Equal(1, report.StaleDeadLettersRemoved);

        var (rows, conflicts) = await VectorExporter.ReadAsync(_store, "vectors/", CancellationToken.None);
        Assert.Empty(conflicts);
        Assert.Equal(Enumerable.Range(0, 15).Select(i => $"sku-{i:D2}").Append("sku-21"), rows.Select(r => r.ItemId));
        Assert.Single(await KeysAsync("vectors/"));
        Assert.Single(await KeysAsync("vectors-conflicts/acme/r1/s1/"));
        Assert.Null(await _store.GetAsync(StorageKeys.DeadLetter(Job("sku-03"), "r1"), CancellationToken.None));
        Assert.NotNull(await _store.GetAsync(StorageKeys.DeadLetter(Job("sku-99"), "r1"), CancellationToken.None));
        // The earliest of the agreeing rows is kept.
        Assert.Equal(new DateTime(2026, 11, 30, 8, 0, 0, DateTimeKind.Utc), rows.Single(r => r.ItemId == "sku-07").WrittenAt);

        // A rerun changes nothing.
        var before = await KeysAsync("vectors/");
        var bytes = await _store.GetAsync(before[0], CancellationToken.None);
        var again = await new VectorCompactor(_store).CompactAsync("vectors/", null, CancellationToken.None);
        Assert.Equal((1, 16, 0, 0), (again.InputFiles, again.Items, again.DuplicatesCollapsed, again.ConflictingItems.Count));
        Assert.Equal(before, await KeysAsync("vectors/"));
        Assert.Equal(bytes, await _store.GetAsync(before[0], CancellationToken.None));
    }

    [Fact]
    public async Task ACrashMidwayCompaction_IsFinishedByTheRerun_WithTheSameResult()
    {
        for (var b = 0; b < 5; b++)
            await WriteBatchAsync(Enumerable.Range(b * 4, 6).Select(i => ($"sku-{i:D2}", Vec(i)))); // overlapping batches
        var crashing = new CrashOnDeleteStore(_store, afterDeletes: 2);
        await Assert.ThrowsAsync<IOException>(() => new VectorCompactor(crashing) { PartRows = 7 }.CompactAsync("vectors/", null, CancellationToken.None));
        var report = await new VectorCompactor(_store) { PartRows = 7 }.CompactAsync("vectors/", null, CancellationToken.None);
        var (rows, _) = await VectorExporter.ReadAsync(_store, "vectors/", CancellationToken.None);
        Assert.Equal(Enumerable.Range(0, 22).Select(i => $"sku-{i:D2}"), rows.Select(r => r.ItemId));
        Assert.Equal(4, (await KeysAsync("vectors/")).Count); // 22 items in parts of 7
        Assert.All(await KeysAsync("vectors/"), k => Assert.Contains("/compacted-", k, StringComparison.Ordinal));
        Assert.Equal(22, report.Items);
    }

    [Fact]
    public async Task Export_WritesOneParquetOrOneNpz_IdsBesideVectors()
    {
        await WriteBatchAsync(Enumerable.Range(0, 5).Select(i => ($"sku-{i}", Vec(i))));
        await WriteBatchAsync([("商品-😀", Vec(9))], shard: "s2");
        var parquet = Path.Combine(_dir.FullName, "out.parquet");
        Assert.Equal(6, await VectorExporter.ExportAsync(_store, "vectors/acme/r1/", "parquet", parquet, CancellationToken.None));
        Assert.Equal(6, (await VectorParquet.DeserializeAsync(await File.ReadAllBytesAsync(parquet))).Count);

        var npz = Path.Combine(_dir.FullName, "out.npz");
        Assert.Equal(6, await VectorExporter.ExportAsync(_store, "vectors/acme/r1/", "npy", npz, CancellationToken.None));
#pragma warning disable CA1849 // a test reading a small archive
        using var zip = ZipFile.OpenRead(npz);
#pragma warning restore CA1849
        var vectors = ReadEntry(zip, "vectors.npy");
        var header = NpyHeader(vectors, out var dataStart);
        Assert.Equal("{'descr': '<f4', 'fortran_order': False, 'shape': (6, 8), }", header.TrimEnd());
        Assert.Equal(0, dataStart % 64);                       // the format aligns data to 64 bytes
        Assert.Equal(6 * 8 * 4, vectors.Length - dataStart);
        Assert.Equal(Vec(0)[3], BitConverter.ToSingle(vectors, dataStart + 3 * 4));
        var ids = ReadEntry(zip, "ids.npy");
        Assert.Equal("{'descr': '<U5', 'fortran_order': False, 'shape': (6,), }", NpyHeader(ids, out var idStart).TrimEnd());
        Assert.Equal("sku-0", System.Text.Encoding.UTF32.GetString(ids, idStart, 20));
        Assert.Equal("商品-😀", System.Text.Encoding.UTF32.GetString(ids, idStart + 5 * 20, 20).TrimEnd('\0'));
    }

    private static byte[] ReadEntry(ZipArchive zip, string name)
    {
        using var s = zip.GetEntry(name)!.Open();
        using var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    }

    private static string NpyHeader(byte[] npy, out int dataStart)
    {
        Assert.Equal([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0], npy[..8]);
        var length = BitConverter.ToUInt16(npy, 8);
        dataStart = 10 + length;
        Assert.Equal((byte)'\n', npy[dataStart - 1]);
        return System.Text.Encoding.ASCII.GetString(npy, 10, length);
    }

    private sealed class CrashOnDeleteStore(IObjectStore inner, int afterDeletes) : IObjectStore
    {
        private int _deletes;
        public string Location => inner.Location;
        public Task PutAsync(string key, ReadOnlyMemory<byte> content, string contentType, CancellationToken ct) => inner.PutAsync(key, content, contentType, ct);
        public Task<byte[]?> GetAsync(string key, CancellationToken ct) => inner.GetAsync(key, ct);
        public Task<bool> ExistsAsync(string key, CancellationToken ct) => inner.ExistsAsync(key, ct);
        public IAsyncEnumerable<string> ListAsync(string prefix, CancellationToken ct) => inner.ListAsync(prefix, ct);
        public Task ProbeAsync(CancellationToken ct) => inner.ProbeAsync(ct);

        public Task DeleteAsync(string key, CancellationToken ct) =>
            ++_deletes > afterDeletes ? throw new IOException("the process died here") : inner.DeleteAsync(key, ct);
    }
}
