using IngestFleet.Storage.S3;
using IngestFleet.VectorStore;

namespace IngestFleet.IntegrationTests;

[Collection(FleetTests.Name)]
public sealed class S3CompatibilityTests(FleetFixture fixture)
{
    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(65_537)]
    [InlineData(3_000_000)]
    public async Task BytesReadBack_EqualBytesWritten(int size)
    {
        using var world = await fixture.NewWorldAsync();
        var bytes = new byte[size];
        System.Security.Cryptography.RandomNumberGenerator.Fill(bytes);
        await world.Store.PutAsync($"roundtrip/{size}.bin", bytes, "application/octet-stream", CancellationToken.None);
        var back = await world.Store.GetAsync($"roundtrip/{size}.bin", CancellationToken.None);
        Assert.NotNull(back);
        Assert.Equal(bytes.Length, back.Length);
        Assert.True(bytes.AsSpan().SequenceEqual(back), "object body differs from what was written");
    }

    [Fact]
    public async Task MissingKey_IsNullNotAnError_AndListingSeesWhatWasWritten()
    {
        using var world = await fixture.NewWorldAsync();
        Assert.Null(await world.Store.GetAsync("nope/missing.json", CancellationToken.None));
        Assert.False(await world.Store.ExistsAsync("nope/missing.json", CancellationToken.None));
        for (var i = 0; i < 3; i++)
            await world.Store.PutAsync($"list/{i}.txt", "x"u8.ToArray(), "text/plain", CancellationToken.None);
        var keys = new List<string>();
        await foreach (var k in world.Store.ListAsync("list/", CancellationToken.None)) keys.Add(k);
        Assert.Equal(["list/0.txt", "list/1.txt", "list/2.txt"], keys.Order());
    }

    [Fact]
    public async Task ListingPagesPastAThousandKeys_EachKeyOnce()
    {
        using var world = await fixture.NewWorldAsync();
        var written = Enumerable.Range(0, 1_150).Select(i => $"many/{i:D5}.txt").ToArray();
        await Parallel.ForEachAsync(written, new ParallelOptions { MaxDegreeOfParallelism = 16 },
            async (key, ct) => await world.Store.PutAsync(key, "x"u8.ToArray(), "text/plain", ct));
        var listed = new List<string>();
        await foreach (var k in world.Store.ListAsync("many/", CancellationToken.None)) listed.Add(k);
        Assert.Equal(written, listed.Order(StringComparer.Ordinal));
    }
}
