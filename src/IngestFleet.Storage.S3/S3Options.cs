using System.ComponentModel.DataAnnotations;


namespace IngestFleet.Storage.S3;

/// <summary>
/// S3 or S3-compatible object store. Bound from <c>IngestFleet:S3</c>. The defaults suit AWS; for MinIO, s3rver
/// and similar servers set <see cref="ServiceUrl"/>, keep <see cref="ForcePathStyle"/>, and leave checksums at
/// <c>when_required</c> and chunk encoding off (SDK v4's aws-chunked framing is stored verbatim by some servers).
/// </summary>
public sealed class S3Options
{
    public const string SectionName = "IngestFleet:S3";

    /// <summary>Endpoint of an S3-compatible server (for example http://127.0.0.1:4568); empty for AWS.</summary>
    public string? ServiceUrl { get; set; }

    /// <value>Default us-east-1.</value>
    public string Region { get; set; } = "us-east-1";

    [Required] public string Bucket { get; set; } = "ingestfleet";

    /// <summary>Static credentials; empty means the SDK's default chain (environment, profile, instance role).</summary>
    public string? AccessKey { get; set; }
    public string? SecretKey { get; set; }

    /// <value>Default true (bucket in the path, which S3-compatible servers expect).</value>
    public bool ForcePathStyle { get; set; } = true;

    /// <summary><c>when_required</c> or <c>when_supported</c> (the SDK v4 default, CRC32 on every request).</summary>
    /// <value>Default when_required.</value>
    [RegularExpression("^(when_required|when_supported)$")]
    public string ChecksumMode { get; set; } = "when_required";

    /// <summary>aws-chunked streaming uploads. Default false: s3rver and others store the chunk framing as the body.</summary>
    public bool UseChunkEncoding { get; set; }

    /// <summary>
    /// Which listing call pages through keys: 2 (ListObjectsV2, the default) or 1 (ListObjects with markers) for servers
    /// whose V2 paging is broken (s3rver 3.x answers InternalError once more than 1,000 keys match).
    /// </summary>
    /// <value>Default 2.</value>
    [Range(1, 2)] public int ListObjectsVersion { get; set; } = 2;

    /// <summary>Create the bucket on start-up when it is missing (tests, laptops).</summary>
    public bool CreateBucket { get; set; }

    /// <summary>The same endpoint and credentials for another bucket, one this process reads but never creates (a
    /// tenant's model bundles).</summary>
    public S3Options ForBucket(string bucket)
    {
        var copy = (S3Options)MemberwiseClone();
        copy.Bucket = bucket;
        copy.CreateBucket = false;
        return copy;
    }
}
