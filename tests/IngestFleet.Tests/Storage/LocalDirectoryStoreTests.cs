using IngestFleet.Storage;

namespace IngestFleet.Tests.Storage;

public sealed class LocalDirectoryStoreTests
{
    private readonly LocalDirectoryStore _store = new(Directory.CreateTempSubdirectory("ingestfleet-store-").FullName);

    [Theory]
    [InlineData("../outside.json")]
    [InlineData("vectors/../../outside.json")]
    [InlineData("/etc/passwd")]
    public async Task KeysThatEscapeTheDirectory_AreRefused(string key)
    {
        await Assert.ThrowsAsync<ArgumentException>(() => _store.PutAsync(key, "x"u8.ToArray(), "text/plain", CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentException>(() => _store.GetAsync(key, CancellationToken.None));
    }

    [Fact]
    public async Task PutGetListDelete_RoundTripTheExactBytes()
    {
        var bytes = new byte[65_537];
        System.Security.Cryptography.RandomNumberGenerator.Fill(bytes);
        await _store.PutAsync("vectors/t/r/s/a.parquet", bytes, "application/octet-stream", CancellationToken.None);
        Assert.Equal(bytes, await _store.GetAsync("vectors/t/r/s/a.parquet", CancellationToken.None));
        var keys = new List<string>();
        await foreach (var k in _store.ListAsync("vectors/", CancellationToken.None)) keys.Add(k);
        Assert.Equal(["vectors/t/r/s/a.parquet"], keys);
        await _store.DeleteAsync("vectors/t/r/s/a.parquet", CancellationToken.None);
        Assert.Null(await _store.GetAsync("vectors/t/r/s/a.parquet", CancellationToken.None));
        Assert.False(await _store.ExistsAsync("vectors/t/r/s/a.parquet", CancellationToken.None));
    }
}
