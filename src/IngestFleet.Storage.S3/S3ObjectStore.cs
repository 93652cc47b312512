using System.Net;
using System.Runtime.CompilerServices;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using IngestFleet.Storage.Resilience;


namespace IngestFleet.Storage.S3;

/// <summary>
/// S3 and S3-compatible servers through AWSSDK.S3 v4, with the compatibility settings of <see cref="S3Options"/>.
/// Server faults (5xx, 429/SlowDown) and unreachable endpoints surface as <see cref="StoreUnavailableException"/>
/// (transient, retried by <see cref="ResilientObjectStore"/>); other refusals keep the SDK's exception.
/// </summary>
public sealed class S3ObjectStore : IObjectStore, IDisposable
{
    private readonly AmazonS3Client _s3;
    private readonly S3Options _options;
    private readonly bool _ownsClient = true;

    private S3ObjectStore(AmazonS3Client client, S3Options options)
    {
        (_s3, _options, _ownsClient) = (client, options, false);
    }

    public S3ObjectStore(S3Options options)
    {
        _options = options;
        var config = new AmazonS3Config
        {
            ForcePathStyle = options.ForcePathStyle,
            RequestChecksumCalculation = options.ChecksumMode == "when_supported" ? RequestChecksumCalculation.WHEN_SUPPORTED : RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = options.ChecksumMode == "when_supported" ? ResponseChecksumValidation.WHEN_SUPPORTED : ResponseChecksumValidation.WHEN_REQUIRED,
            MaxErrorRetry = 4,
            HttpClientFactory = new S3HttpClientFactory(), // PUT bodies go out without the 100-continue round trip
        };
        if (!string.IsNullOrEmpty(options.ServiceUrl))
        {
            config.ServiceURL = options.ServiceUrl;
            config.AuthenticationRegion = options.Region;
        }
        else
        {
            config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(options.Region);
        }
        _s3 = !string.IsNullOrEmpty(options.AccessKey)
            ? new AmazonS3Client(new BasicAWSCredentials(options.AccessKey, options.SecretKey), config)
            : new AmazonS3Client(config);
    }

    /// <summary>The underlying client, shared with the image fetcher for s3:// sources.</summary>
    public IAmazonS3 Client => _s3;

    /// <summary>Another bucket through the same client (endpoint, credentials, connection pool); the view never
    /// creates its bucket and does not dispose the shared client.</summary>
    public S3ObjectStore ForBucket(string bucket) => new(_s3, _options.ForBucket(bucket));

    public string Location => $"s3://{_options.Bucket}" + (string.IsNullOrEmpty(_options.ServiceUrl) ? "" : $" at {_options.ServiceUrl}");

    public async Task PutAsync(string key, ReadOnlyMemory<byte> content, string contentType, CancellationToken cancellationToken)
    {
        using var body = new MemoryStream(content.ToArray(), writable: false);
        await Translate(() => _s3.PutObjectAsync(new PutObjectRequest
        {
            BucketName = _options.Bucket, Key = key, InputStream = body, ContentType = contentType,
            UseChunkEncoding = _options.UseChunkEncoding, AutoCloseStream = false,
        }, cancellationToken));
    }

    public async Task<VersionedObject?> GetVersionedAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await Translate(() => _s3.GetObjectAsync(_options.Bucket, key, cancellationToken));
            using var ms = new MemoryStream();
            await response.ResponseStream.CopyToAsync(ms, cancellationToken);
            return new VersionedObject(ms.ToArray(), response.ETag);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>Set once the server answered a create-only PUT with 501: it is not asked again.</summary>
    private volatile bool _createOnlyUnsupported;

    /// <summary>A conditional PUT (<c>If-None-Match: *</c>): S3 answers 412 when the key exists and 409 when another
    /// conditional write to it is in flight; each means "not written" (the caller then reads what is there). A server
    /// that answers 501 (it does not implement the header) gets the interface's look-then-write from then on; one that
    /// ignores the header writes unconditionally (the README's "S3-compatible servers" lists which honour it).</summary>
    public async Task<bool> PutIfAbsentAsync(string key, ReadOnlyMemory<byte> content, string contentType, CancellationToken cancellationToken)
    {
        if (_createOnlyUnsupported) return await LookThenPutAsync();
        Task<bool> LookThenPutAsync() => ObjectStoreFallbacks.LookThenPutAsync(this, key, content, contentType, cancellationToken);
        using var body = new MemoryStream(content.ToArray(), writable: false);
        try
        {
            await Translate(async () =>
            {
                try
                {
                    return await _s3.PutObjectAsync(new PutObjectRequest
                    {
                        BucketName = _options.Bucket, Key = key, InputStream = body, ContentType = contentType, IfNoneMatch = "*",
                        UseChunkEncoding = _options.UseChunkEncoding, AutoCloseStream = false,
                    }, cancellationToken);
                }
                catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotImplemented)
                {
                    _createOnlyUnsupported = true; // not a transient fault: never retried as one
                    return (PutObjectResponse?)null;
                }
            });
        }
        catch (AmazonS3Exception e) when (e.StatusCode is HttpStatusCode.PreconditionFailed or HttpStatusCode.Conflict)
        {
            return false;
        }
        return !_createOnlyUnsupported || await LookThenPutAsync();
    }

    /// <summary>A conditional PUT (<c>If-Match</c> on the ETag read): S3 answers 412 when the object changed since, 404
    /// when it is gone, and 409 when another conditional write to it is in flight; each means "not written". A server
    /// that ignores <c>If-Match</c> writes unconditionally (the README's "S3-compatible servers" lists which honour it).</summary>
    public async Task<bool> PutIfUnchangedAsync(string key, ReadOnlyMemory<byte> content, string contentType, string version, CancellationToken cancellationToken)
    {
        using var body = new MemoryStream(content.ToArray(), writable: false);
        try
        {
            await Translate(() => _s3.PutObjectAsync(new PutObjectRequest
            {
                BucketName = _options.Bucket, Key = key, InputStream = body, ContentType = contentType, IfMatch = version,
                UseChunkEncoding = _options.UseChunkEncoding, AutoCloseStream = false,
            }, cancellationToken));
            return true;
        }
        catch (AmazonS3Exception e) when (e.StatusCode is HttpStatusCode.PreconditionFailed or HttpStatusCode.NotFound or HttpStatusCode.Conflict)
        {
            return false;
        }
    }

    public async Task<byte[]?> GetAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await Translate(() => _s3.GetObjectAsync(_options.Bucket, key, cancellationToken));
            using var ms = new MemoryStream();
            await response.ResponseStream.CopyToAsync(ms, cancellationToken);
            return ms.ToArray();
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    public async Task<bool> ExistsAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            await Translate(() => _s3.GetObjectMetadataAsync(_options.Bucket, key, cancellationToken));
            return true;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }
    }

    public async IAsyncEnumerable<string> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (_options.ListObjectsVersion == 1)
        {
            var v1 = new ListObjectsRequest { BucketName = _options.Bucket, Prefix = prefix, MaxKeys = 1000 };
            while (true)
            {
                var page = await Translate(() => _s3.ListObjectsAsync(v1, cancellationToken));
                string? last = null;
                foreach (var o in page.S3Objects ?? [])
                {
                    last = o.Key;
                    yield return o.Key;
                }
                if (page.IsTruncated != true || last is null) yield break;
                v1.Marker = page.NextMarker ?? last;
            }
        }
        var request = new ListObjectsV2Request { BucketName = _options.Bucket, Prefix = prefix };
        do
        {
            var page = await Translate(() => _s3.ListObjectsV2Async(request, cancellationToken));
            foreach (var o in page.S3Objects ?? [])
                yield return o.Key;
            request.ContinuationToken = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (request.ContinuationToken is not null);
    }

    public Task DeleteAsync(string key, CancellationToken cancellationToken) => Translate(() => _s3.DeleteObjectAsync(_options.Bucket, key, cancellationToken));

    public async Task ProbeAsync(CancellationToken cancellationToken)
    {
        try
        {
            // A prefix that matches nothing: cheap everywhere (s3rver fails on MaxKeys with truncation).
            await _s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = _options.Bucket, Prefix = "_ingestfleet-probe/" }, cancellationToken);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound && _options.CreateBucket)
        {
            await _s3.PutBucketAsync(_options.Bucket, cancellationToken);
        }
    }

    public void Dispose()
    {
        if (_ownsClient) _s3.Dispose();
    }

    /// <summary>Whether an S3 SDK exception is a transient infrastructure fault rather than a refusal.</summary>
    public static bool IsTransient(Exception e) => e switch
    {
        AmazonServiceException { StatusCode: >= HttpStatusCode.InternalServerError or HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout } => true,
        AmazonServiceException { ErrorCode: "SlowDown" or "RequestTimeout" or "RequestTimeTooSkewed" } => true,
        AmazonServiceException { StatusCode: 0, InnerException: not null } => true, // no answer at all
        AmazonClientException => true,            // the SDK could not reach the endpoint
        _ => StoreUnavailableException.IsTransient(e), // refused, reset, timed out: as for any store
    };

    private static async Task<T> Translate<T>(Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (Exception e) when (e is not AmazonS3Exception { StatusCode: HttpStatusCode.NotFound } && IsTransient(e))
        {
            throw new StoreUnavailableException(e.Message, e);
        }
    }
}
