namespace IngestFleet.Contracts;

/// <summary>Checks a job before it is published or processed; each problem names the field.</summary>
public static class JobValidator
{
    /// <summary>item_id: at most 256 Unicode code points (what JSON Schema's maxLength counts), so at most 1,024 UTF-8
    /// bytes. Ids whose escaped form is long get a hashed storage key (see <c>StorageKeys.EscapeItem</c>); tenant, shard
    /// and model revision are ASCII segments of at most 128 bytes. Together every key fits S3's 1,024 bytes.</summary>
    public const int MaxIdLength = 256;
    public const int MaxIdUtf8Bytes = 1024;
    public const int MaxImageLength = 2048;

    public static IReadOnlyList<string> Validate(EmbedCatalogImage job, IReadOnlyCollection<string> priorities, bool allowFileScheme)
    {
        var problems = new List<string>();
        if (job.SchemaVersion != EmbedCatalogImage.CurrentSchemaVersion)
            problems.Add($"schema_version {job.SchemaVersion} is not supported (expected {EmbedCatalogImage.CurrentSchemaVersion})");
        CheckId(problems, "tenant", job.Tenant);
        CheckId(problems, "shard", job.Shard);
        if (string.IsNullOrWhiteSpace(job.ItemId)) problems.Add("item_id is required");
        else if (job.ItemId.EnumerateRunes().Count() > MaxIdLength) problems.Add($"item_id is longer than {MaxIdLength} characters");
        else if (System.Text.Encoding.UTF8.GetByteCount(job.ItemId) > MaxIdUtf8Bytes) problems.Add($"item_id is longer than {MaxIdUtf8Bytes} UTF-8 bytes");
        else if (job.ItemId.Any(char.IsControl)) problems.Add("item_id contains control characters");
        if (!priorities.Contains(job.Priority))
            problems.Add($"priority '{job.Priority}' is not one of {string.Join(", ", priorities)}");
        if (job.ModelRevision.Length > 0 && !IsSafeSegment(job.ModelRevision))
            problems.Add("model_revision may contain only letters, digits, '-', '_' and '.'");
        if (string.IsNullOrWhiteSpace(job.Image)) problems.Add("image is required");
        else if (job.Image.Length > MaxImageLength) problems.Add($"image is longer than {MaxImageLength} characters");
        else if (!Uri.TryCreate(job.Image, UriKind.Absolute, out var uri))
            problems.Add($"image '{job.Image}' is not an absolute URI (s3://bucket/key or https://…)");
        else if (uri.Scheme is not ("s3" or "https") && !(allowFileScheme && uri.Scheme == "file"))
            problems.Add($"image scheme '{uri.Scheme}' is not accepted (use s3:// or https://{(allowFileScheme ? "; file:// in embedded mode" : "")})");
        else if (uri.Scheme == "s3" && (uri.Host.Length == 0 || uri.AbsolutePath.Length <= 1))
            problems.Add($"image '{job.Image}' must name a bucket and a key (s3://bucket/key)");
        return problems;
    }

    /// <summary>Tenant, shard and revision become storage-key segments, so they are restricted.</summary>
    public static bool IsSafeSegment(string s) =>
        s.Length is > 0 and <= 128 && s.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') && s is not ("." or "..");

    private static void CheckId(List<string> problems, string field, string value)
    {
        if (!IsSafeSegment(value))
            problems.Add($"{field} '{value}' must be 1–128 letters, digits, '-', '_' or '.'");
    }
}
