using System.Net;
using Amazon.S3;
using IngestFleet.Contracts;
using Microsoft.Extensions.Logging;

namespace IngestFleet.Worker.Fetching;

/// <summary>
/// Fetches s3:// (GetObject through the configured S3 client), https:// (SSRF-guarded, byte- and time-capped) and,
/// in embedded mode only, file:// images.
/// </summary>
public sealed class ImageFetcher : IDisposable
{
    private readonly FetchOptions _options;
    private readonly IAmazonS3? _s3;
    private readonly HttpClient _http;
    private readonly ILogger<ImageFetcher> _logger;

    public ImageFetcher(FetchOptions options, IAmazonS3? s3, ILogger<ImageFetcher> logger)
    {
        _options = options;
        _s3 = s3;
        _logger = logger;
#pragma warning disable CA2000 // the client owns the handler (disposeHandler: true) and is disposed with the fetcher
        _http = new HttpClient(SsrfGuard.CreateHandler(options.MaxConnectionsPerHost), disposeHandler: true)
        {
            Timeout = TimeSpan.FromSeconds(options.TimeoutSeconds),
            MaxResponseContentBufferSize = options.MaxBytes,
        };
#pragma warning restore CA2000
    }

    public async Task<FetchResult> FetchAsync(string source, CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var result = await FetchCore(source, cancellationToken);
        return result with { Elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started) };
    }

    private async Task<FetchResult> FetchCore(string source, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(source, UriKind.Absolute, out var uri))
            return FetchResult.Fail(ReasonCodes.InvalidJob, $"'{source}' is not an absolute URI");
        try
        {
            return uri.Scheme switch
            {
                "s3" => await FromS3(uri, cancellationToken),
                "https" => await FromHttps(uri, cancellationToken),
                "file" when _options.AllowFileScheme => await FromFile(uri, cancellationToken),
                _ => FetchResult.Fail(ReasonCodes.SourceForbidden, $"scheme '{uri.Scheme}' is not allowed here"),
            };
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return FetchResult.Fail(ReasonCodes.FetchFailed, $"timed out after {_options.TimeoutSeconds} s");
        }
    }

    private async Task<FetchResult> FromFile(Uri uri, CancellationToken cancellationToken)
    {
        var path = uri.LocalPath;
        if (!File.Exists(path)) return FetchResult.Fail(ReasonCodes.SourceNotFound, $"no such file: {path}");
        var length = new FileInfo(path).Length;
        if (length > _options.MaxBytes) return FetchResult.Fail(ReasonCodes.TooManyBytes, $"{length} bytes exceeds the {_options.MaxBytes}-byte limit");
        return new FetchResult(await File.ReadAllBytesAsync(path, cancellationToken), null, TimeSpan.Zero);
    }

    private async Task<FetchResult> FromS3(Uri uri, CancellationToken cancellationToken)
    {
        if (_s3 is null) return FetchResult.Fail(ReasonCodes.SourceForbidden, "no S3 client is configured on this worker");
        var key = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        try
        {
            using var response = await _s3.GetObjectAsync(uri.Host, key, cancellationToken);
            if (response.ContentLength > _options.MaxBytes)
                return FetchResult.Fail(ReasonCodes.TooManyBytes, $"{response.ContentLength} bytes exceeds the {_options.MaxBytes}-byte limit");
            using var ms = new MemoryStream((int)Math.Max(0, response.ContentLength));
            await response.ResponseStream.CopyToAsync(ms, cancellationToken);
            return new FetchResult(ms.ToArray(), null, TimeSpan.Zero);
        }
        catch (AmazonS3Exception e) when (e.StatusCode is HttpStatusCode.NotFound)
        {
            return FetchResult.Fail(ReasonCodes.SourceNotFound, $"s3://{uri.Host}/{key}: {e.ErrorCode}");
        }
        catch (AmazonS3Exception e) when (e.StatusCode is HttpStatusCode.Forbidden)
        {
            return FetchResult.Fail(ReasonCodes.SourceForbidden, $"s3://{uri.Host}/{key}: access denied");
        }
    }

    private async Task<FetchResult> FromHttps(Uri uri, CancellationToken outer)
    {
        // One deadline for the whole fetch, redirects and body included: HttpClient.Timeout stops at the headers.
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(outer);
        deadline.CancelAfter(TimeSpan.FromSeconds(_options.TimeoutSeconds));
        var cancellationToken = deadline.Token;
        for (var hop = 0; hop <= _options.MaxRedirects; hop++)
        {
            if (uri.Scheme != "https")
                return FetchResult.Fail(ReasonCodes.SourceForbidden, $"redirect to non-https URL {uri.GetLeftPart(UriPartial.Path)}");
            if (_options.AllowedHosts.Length > 0 && !_options.AllowedHosts.Contains(uri.Host, StringComparer.OrdinalIgnoreCase))
                return FetchResult.Fail(ReasonCodes.SourceForbidden, $"host {uri.Host} is not on the allow-list");
            try
            {
                using var response = await _http.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
                if ((int)response.StatusCode is >= 300 and < 400 && response.Headers.Location is { } next)
                {
                    uri = next.IsAbsoluteUri ? next : new Uri(uri, next);
                    continue;
                }
                if (response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.Gone)
                    return FetchResult.Fail(ReasonCodes.SourceNotFound, $"{uri.Host} answered {(int)response.StatusCode}");
                if (!response.IsSuccessStatusCode)
                    return FetchResult.Fail(ReasonCodes.FetchFailed, $"{uri.Host} answered {(int)response.StatusCode}");
                if (response.Content.Headers.ContentLength > _options.MaxBytes)
                    return FetchResult.Fail(ReasonCodes.TooManyBytes, $"{response.Content.Headers.ContentLength} bytes exceeds the {_options.MaxBytes}-byte limit");
                return await ReadCappedAsync(response, cancellationToken);
            }
            catch (HttpRequestException e) when (e.InnerException is SsrfRefusedException refused)
            {
                return FetchResult.Fail(ReasonCodes.SourceForbidden, refused.Message);
            }
            catch (HttpRequestException e) when (e.Message.Contains("buffer", StringComparison.OrdinalIgnoreCase))
            {
                return FetchResult.Fail(ReasonCodes.TooManyBytes, $"response exceeds the {_options.MaxBytes}-byte limit");
            }
            catch (HttpRequestException e)
            {
                _logger.LogDebug(e, "fetch of {Host} failed", uri.Host);
                return FetchResult.Fail(ReasonCodes.FetchFailed, e.Message);
            }
        }
        return FetchResult.Fail(ReasonCodes.FetchFailed, $"more than {_options.MaxRedirects} redirects");
    }

    /// <summary>Reads the body with the byte cap applied as it streams (a missing or false Content-Length cannot pass it).</summary>
    private async Task<FetchResult> ReadCappedAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        using var buffer = new MemoryStream();
        var chunk = new byte[81_920];
        int read;
        while ((read = await body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > _options.MaxBytes)
                return FetchResult.Fail(ReasonCodes.TooManyBytes, $"the body passed the {_options.MaxBytes}-byte limit while streaming");
            await buffer.WriteAsync(chunk.AsMemory(0, read), cancellationToken);
        }
        return new FetchResult(buffer.ToArray(), null, TimeSpan.Zero);
    }

    public void Dispose() => _http.Dispose();
}
