using IngestFleet.Contracts;
using IngestFleet.Storage;

namespace IngestFleet.Tests.Storage;

public sealed class StorageKeysTests
{
    [Fact]
    public void Keys_FollowTheDocumentedLayout()
    {
        Assert.Equal("vectors/acme/clip-r1/s1/", StorageKeys.VectorShard("acme", "clip-r1", "s1"));
        Assert.Matches("^vectors/acme/clip-r1/s1/part-[0-9a-f]{24}\\.parquet$", StorageKeys.VectorPart("acme", "clip-r1", "s1", ["sku-1", "sku-2"]));
        Assert.Equal("dead-letter/acme/clip-r1/s1/sku-1.json", StorageKeys.DeadLetter("acme", "clip-r1", "s1", "sku-1"));
        Assert.Equal("shed/acme/clip-r1/s1/sku-1.json", StorageKeys.Shed("acme", "clip-r1", "s1", "sku-1"));
    }

    [Theory]
    [InlineData("a/b", "a%2Fb")]
    [InlineData("..", "%2E%2E")]
    [InlineData(".", "%2E")]
    [InlineData("ü ß", "%C3%BC%20%C3%9F")]
    [InlineData("x~y_z.-1", "x~y_z.-1")]
    public void ItemIds_AreEscapedIntoOneSafeSegment(string itemId, string expected) =>
        Assert.Equal(expected, StorageKeys.EscapeItem(itemId));

    [Fact]
    public void TheSameBatch_AlwaysMapsToTheSamePartKey_WhateverTheOrder()
    {
        Assert.Equal(StorageKeys.VectorPart("t", "r", "s", ["a", "b"]), StorageKeys.VectorPart("t", "r", "s", ["b", "a"]));
        Assert.NotEqual(StorageKeys.VectorPart("t", "r", "s", ["a", "b"]), StorageKeys.VectorPart("t", "r", "s", ["a", "b", "c"]));
        Assert.NotEqual(StorageKeys.IdsHash(["ab", "c"]), StorageKeys.IdsHash(["a", "bc"])); // ids are delimited
    }
}

public sealed class LongItemIdTests
{
    public static TheoryData<string> IdsAtTheLimit => new()
    {
        new string('商', JobValidator.MaxIdLength),                                          // 3-byte characters: 768 UTF-8 bytes
        string.Concat(Enumerable.Repeat("😀", JobValidator.MaxIdLength)),                     // 4-byte: 1,024 bytes, 512 UTF-16 units
        new string('x', JobValidator.MaxIdLength),
        "商品-" + new string('é', 200),
    };

    [Theory]
    [MemberData(nameof(IdsAtTheLimit))]
    public void AnIdAtTheContractLimit_IsValid_AndItsKeysFitS3AndTheFileSystem(string itemId)
    {
        var job = new EmbedCatalogImage { Tenant = new string('t', 128), Shard = new string('s', 128), ItemId = itemId, Image = "s3://b/k.jpg", Priority = "bulk" };
        Assert.Empty(JobValidator.Validate(job, ["bulk"], allowFileScheme: false));
        Assert.Empty(JobSchema.Evaluate(JobJson.Serialize(job)));
        foreach (var key in new[] { StorageKeys.VectorPart(job.Tenant, new string('r', 128), job.Shard, [job.ItemId]), StorageKeys.DeadLetter(job, new string('r', 128)), StorageKeys.Shed(job.Tenant, new string('r', 128), job.Shard, job.ItemId) })
        {
            Assert.InRange(System.Text.Encoding.UTF8.GetByteCount(key), 1, 1024);
            Assert.InRange(System.Text.Encoding.UTF8.GetByteCount(key.Split('/')[^1]), 1, 255);
            Assert.True(System.Text.Encoding.UTF8.GetByteCount(key) <= StorageKeys.MaxKeyBytes, key);
        }
    }

    [Fact]
    public void AnIdOverTheLimit_IsRefusedByBothTheSchemaAndTheValidator()
    {
        var job = new EmbedCatalogImage { Tenant = "t", Shard = "s", ItemId = string.Concat(Enumerable.Repeat("😀", JobValidator.MaxIdLength + 1)), Image = "s3://b/k.jpg", Priority = "bulk" };
        Assert.NotEmpty(JobValidator.Validate(job, ["bulk"], allowFileScheme: false));
        Assert.NotEmpty(JobSchema.Evaluate(JobJson.Serialize(job)));
    }

    [Fact]
    public void LongIds_HashToStableDistinctKeys_AndShortIdsStayReadable()
    {
        var a = new string('商', 110);
        var b = new string('商', 109) + "品";
        Assert.Equal(StorageKeys.EscapeItem(a), StorageKeys.EscapeItem(a));
        Assert.NotEqual(StorageKeys.EscapeItem(a), StorageKeys.EscapeItem(b));
        Assert.Contains("%7E", StorageKeys.EscapeItem(a), StringComparison.Ordinal);
        Assert.StartsWith("%E5%95%86", StorageKeys.EscapeItem(a), StringComparison.Ordinal);
        // An escaped id never contains %7E ('~' is left as it is), so a short id cannot collide with a hashed one.
        Assert.Equal("a~b", StorageKeys.EscapeItem("a~b"));
        Assert.Equal("sku-1", StorageKeys.EscapeItem("sku-1"));
    }

    [Fact]
    public async Task TheLocalStore_WritesAndReadsTheLongestKeys()
    {
        var dir = Directory.CreateTempSubdirectory("ingestfleet-keys-");
        try
        {
            var store = new LocalDirectoryStore(dir.FullName);
            var job = new EmbedCatalogImage { Tenant = new string('t', 128), Shard = new string('s', 128), ItemId = string.Concat(Enumerable.Repeat("😀", 256)), Image = "s3://b/k", Priority = "bulk" };
            var key = StorageKeys.DeadLetter(job, new string('r', 128));
            await store.PutAsync(key, "{}"u8.ToArray(), "application/json", CancellationToken.None);
            Assert.True(await store.ExistsAsync(key, CancellationToken.None));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
