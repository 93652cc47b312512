using IngestFleet.Storage;

namespace IngestFleet.Tests.Storage;

public sealed class StorageKeysTests
{
    [Fact]
    public void Keys_FollowTheDocumentedLayout()
    {
        Assert.Equal("vectors/acme/clip-r1/s1/sku-1.parquet", StorageKeys.Vector("acme", "clip-r1", "s1", "sku-1"));
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
    public void TheSameJob_AlwaysMapsToTheSameKey() =>
        Assert.Equal(StorageKeys.Vector("t", "r", "s", "id/1"), StorageKeys.Vector("t", "r", "s", "id/1"));
}
