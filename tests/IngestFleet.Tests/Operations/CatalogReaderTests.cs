using IngestFleet.Operations.Catalogs;

namespace IngestFleet.Tests.Operations;

public class CatalogReaderTests
{
    private static readonly string[] Priorities = ["online", "high", "normal", "bulk"];
    private static readonly CatalogDefaults Defaults = new("acme", "main", "normal", "");

    private static string Write(string ext, string text)
    {
        var path = Path.Combine(Path.GetTempPath(), $"catalog-{Guid.NewGuid():N}{ext}");
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void Csv_WithHeader_FillsMissingFieldsFromTheDefaults()
    {
        var path = Write(".csv", "item_id,image,shard,priority\nA-1,s3://b/a.jpg,shoes,online\nA-2,https://cdn.example.com/x.jpg,,\n");
        var jobs = CatalogReader.Read(path, Defaults, Priorities, embedded: false);
        Assert.Equal(2, jobs.Count);
        Assert.Equal(("acme", "shoes", "online"), (jobs[0].Tenant, jobs[0].Shard, jobs[0].Priority));
        Assert.Equal(("main", "normal"), (jobs[1].Shard, jobs[1].Priority));
    }

    [Fact]
    public void EveryBadLine_IsReportedWithItsNumber()
    {
        var path = Write(".csv", "item_id,image\nok,s3://b/a.jpg\n,s3://b/b.jpg\nrel,photos/x.jpg\nok,s3://b/dup.jpg\n");
        var e = Assert.Throws<CatalogException>(() => CatalogReader.Read(path, Defaults, Priorities, embedded: false));
        Assert.Equal(3, e.Problems.Count);
        Assert.StartsWith("line 3: item_id is required", e.Problems[0]);
        Assert.StartsWith("line 4: image 'photos/x.jpg' is not an absolute URI", e.Problems[1]);
        Assert.StartsWith("line 5: item acme/main/ok repeats line 2", e.Problems[2]);
    }

    [Fact]
    public void EmbeddedMode_ResolvesRelativePathsAgainstTheCatalog()
    {
        var path = Write(".jsonl", "{\"item_id\":\"a\",\"image\":\"photos/x.jpg\"}\n");
        var job = CatalogReader.Read(path, Defaults, Priorities, embedded: true).Single();
        Assert.Equal(new Uri(Path.Combine(Path.GetDirectoryName(path)!, "photos", "x.jpg")).AbsoluteUri, job.Image);
    }

    [Fact]
    public void UnknownFieldsAndExtensions_AreErrorsNotSilence()
    {
        var jsonl = Write(".jsonl", "{\"item_id\":\"a\",\"image\":\"s3://b/a.jpg\",\"colour\":\"red\"}\n");
        Assert.Contains("unknown field(s) colour", Assert.Throws<CatalogException>(() => CatalogReader.Read(jsonl, Defaults, Priorities, false)).Problems[0]);
        var txt = Write(".txt", "a");
        Assert.Contains("unknown extension", Assert.Throws<CatalogException>(() => CatalogReader.Read(txt, Defaults, Priorities, false)).Message);
    }
}
