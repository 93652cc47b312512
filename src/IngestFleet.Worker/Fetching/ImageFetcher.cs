using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using IngestFleet.Contracts;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace IngestFleet.Worker.Fetching;

/// <summary>
/// Fetches s3:// (GetObject through the configured S3 client), https:// (SSRF-guarded; byte cap and one deadline that
/// hold while the body streams) and, in embedded mode only, file:// images. Each attempt ends as bytes, a permanent
/// refusal (404, 403, too many bytes, a forbidden source) or a transient fault (5xx, 429, 408, a timeout, a refused or
/// reset connection, S3 SlowDown). Transient faults are retried with exponential backoff and jitter (Polly) up to
/// <see cref="FetchOptions.TransientRetries"/>; past that the item becomes <c>transient_exhausted</c> with the last error.
/// One item's fetch never throws into its batch.
/// </summary>
public sealed class ImageFetcher : IDisposable
{
    private readonly FetchOptions _options;
    private readonly IAmazonS3? _s3;
    private readonly HttpClient _http;
    private readonly ILogger<ImageFetcher> _logger;
    private readonly ResiliencePipeline<FetchResult> _retry;
    private readonly TimeProvider _time;
    private readonly HostResolver _resolve;
    private static readonly ResiliencePropertyKey<long> StartedKey = new("ingestfleet.fetch.started");

    /// <param name="resolve">Host lookups (the system resolver unless given; tests give one whose answers they choose).</param>
    public ImageFetcher(FetchOptions options, IAmazonS3? s3, ILogger<ImageFetcher> logger, TimeProvider? time = null, HostResolver? resolve = null)
    {
        _resolve = resolve ?? System.Net.Dns.GetHostAddressesAsync;
        _options = options;
        _s3 = s3;
        _logger = logger;
#pragma warning disable CA2000 // the client owns the handler (disposeHandler: true) and is disposed with the fetcher
        _http = new HttpClient(SsrfGuard.CreateHandler(options.MaxConnectionsPerHost, options.TestOnlyAllowLoopback, _resolve), disposeHandler: true)
        {
            Timeout = Timeout.InfiniteTimeSpan, // the per-attempt deadline below covers headers and body
            MaxResponseContentBufferSize = options.MaxBytes,
        };
#pragma warning restore CA2000
        _time = time ?? TimeProvider.System;
        var builder = new ResiliencePipelineBuilder<FetchResult> { TimeProvider = _time };
        if (options.TransientRetries > 0)
            builder.AddRetry(new RetryStrategyOptions<FetchResult>
            {
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Result.Transient
                    && args.Context.Properties.TryGetValue(StartedKey, out var started)
                    && _time.GetElapsedTime(started).TotalSeconds < options.TransientBudgetSeconds),
                MaxRetryAttempts = options.TransientRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(options.RetryDelayMs),
                MaxDelay = TimeSpan.FromMilliseconds(options.MaxRetryDelayMs),
                OnRetry = args =>
                {
                    _logger.LogDebug("fetch: transient fault ({Detail}); retry {Attempt} in {Delay} ms", args.Outcome.Result.Rejection?.Detail,
                        args.AttemptNumber + 1, (int)args.RetryDelay.TotalMilliseconds);
                    return ValueTask.CompletedTask;
                },
            });
        _retry = builder.Build();
    }

    public async Task<FetchResult> FetchAsync(string source, CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var attempts = 0;
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(StartedKey, _time.GetTimestamp());
        FetchResult result;
        try
        {
            result = await _retry.ExecuteAsync(async ctx =>
            {
                attempts++;
                return await FetchOnceAsync(source, ctx.CancellationToken);
            }, context);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
        if (result.Transient)
            result = result with
            {
                Rejection = new Rejection(ReasonCodes.TransientExhausted, $"{attempts} attempt(s), all failed transiently; last: {result.Rejection?.Detail}"),
            };
        return result with { Elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started), Attempts = attempts };
    }

    private async Task<FetchResult> FetchOnceAsync(string source, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(source, UriKind.Absolute, out var uri))
            return FetchResult.Fail(ReasonCodes.InvalidJob, $"'{source}' is not an absolute URI");
        // One deadline per attempt for the whole fetch (connect, redirects, headers and body).
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(TimeSpan.FromSeconds(_options.TimeoutSeconds));
        try
        {
            return uri.Scheme switch
            {
                "s3" => await FromS3(uri, deadline.Token),
                "https" => await FromHttps(uri, deadline.Token),
                "file" when _options.AllowFileScheme => await FromFile(uri, deadline.Token),
                _ => FetchResult.Fail(ReasonCodes.SourceForbidden, $"scheme '{uri.Scheme}' is not allowed here"),
            };
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return FetchResult.Retry($"timed out after {_options.TimeoutSeconds} s");
        }
#pragma warning disable CA1031 // one item's unforeseen fetch error must not fail its batch-mates: it becomes that item's dead letter
        catch (Exception e) when (e is not OperationCanceledException)
#pragma warning restore CA1031
        {
            _logger.LogWarning(e, "fetch of {Source} failed unexpectedly", ForLog(source));
            return FetchResult.Fail(ReasonCodes.FetchFailed, $"{e.GetType().Name}: {e.Message}");
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
            return await ReadCappedAsync(response.ResponseStream, response.ContentLength, cancellationToken);
        }
        catch (AmazonS3Exception e) when (e.StatusCode is HttpStatusCode.NotFound)
        {
            return FetchResult.Fail(ReasonCodes.SourceNotFound, $"s3://{uri.Host}/{key}: {e.ErrorCode}");
        }
        catch (AmazonS3Exception e) when (e.StatusCode is HttpStatusCode.Forbidden)
        {
            return FetchResult.Fail(ReasonCodes.SourceForbidden, $"s3://{uri.Host}/{key}: access denied");
        }
        catch (Exception e) when (e is not OperationCanceledException && Storage.S3.S3ObjectStore.IsTransient(e))
        {
            return FetchResult.Retry($"s3://{uri.Host}/{key}: {e.Message}");
        }
        catch (AmazonServiceException e)
        {
            return FetchResult.Fail(ReasonCodes.FetchFailed, $"s3://{uri.Host}/{key}: {(int)e.StatusCode} {e.ErrorCode}");
        }
    }

    private async Task<FetchResult> FromHttps(Uri uri, CancellationToken cancellationToken)
    {
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
                var status = (int)response.StatusCode;
                if (response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.Gone)
                    return FetchResult.Fail(ReasonCodes.SourceNotFound, $"{uri.Host} answered {status}");
                if (response.StatusCode is HttpStatusCode.Forbidden or HttpStatusCode.Unauthorized)
                    return FetchResult.Fail(ReasonCodes.SourceForbidden, $"{uri.Host} answered {status}");
                if (status >= 500 || response.StatusCode is HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout)
                    return FetchResult.Retry($"{uri.Host} answered {status}");
                if (!response.IsSuccessStatusCode)
                    return FetchResult.Fail(ReasonCodes.FetchFailed, $"{uri.Host} answered {status}");
                if (response.Content.Headers.ContentLength > _options.MaxBytes)
                    return FetchResult.Fail(ReasonCodes.TooManyBytes, $"{response.Content.Headers.ContentLength} bytes exceeds the {_options.MaxBytes}-byte limit");
                await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
                return await ReadCappedAsync(body, response.Content.Headers.ContentLength, cancellationToken);
            }
            catch (HttpRequestException e) when (e.InnerException is SsrfRefusedException refused)
            {
                return FetchResult.Fail(ReasonCodes.SourceForbidden, refused.Message);
            }
            catch (HttpRequestException e) when (Unreachable(e) is { } why)
            {
                // A name DNS says does not exist, or a certificate that does not verify: permanent, not retried. A resolver
                // that is itself offline can also answer "no such name" (macOS does), so that answer must hold for a
                // second lookup a second later; if the name resolves then, the failure was the network's (transient).
                if (why.Dns && await ResolvesNowAsync(uri.Host, cancellationToken))
                    return FetchResult.Retry($"{uri.Host}: {e.Message}");
                return FetchResult.Fail(ReasonCodes.SourceUnreachable, $"{uri.Host}: {why.Detail}");
            }
            catch (HttpRequestException e) when (e.HttpRequestError is HttpRequestError.SecureConnectionError or HttpRequestError.InvalidResponse
                or HttpRequestError.ResponseEnded or HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError
                or HttpRequestError.Unknown or HttpRequestError.ProxyTunnelError)
            {
                // Refused, reset, cut short, DNS: the host may be back in a moment.
                _logger.LogDebug(e, "fetch of {Host} failed", uri.Host);
                return FetchResult.Retry($"{uri.Host}: {e.Message}");
            }
            catch (HttpRequestException e)
            {
                _logger.LogDebug(e, "fetch of {Host} failed", uri.Host);
                return FetchResult.Fail(ReasonCodes.FetchFailed, $"{uri.Host}: {e.Message}");
            }
            catch (IOException e)
            {
                return FetchResult.Retry($"{uri.Host}: {e.Message}");
            }
        }
        return FetchResult.Fail(ReasonCodes.FetchFailed, $"more than {_options.MaxRedirects} redirects");
    }

    /// <summary>Why a failed request can never succeed by retrying: the host name does not exist (the resolver's "host
    /// not found", not "try again") or the TLS handshake refused the certificate; null for anything else.</summary>
    private static (bool Dns, string Detail)? Unreachable(Exception e)
    {
        for (var x = (Exception?)e; x is not null; x = x.InnerException)
        {
            if (x is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.HostNotFound or System.Net.Sockets.SocketError.NoData })
                return (true, "the host name does not exist (DNS)");
            // Only a certificate that does not verify; other handshake failures (a reset mid-handshake) stay transient.
            if (x is System.Security.Authentication.AuthenticationException && x.Message.Contains("certificate", StringComparison.OrdinalIgnoreCase))
                return (false, $"TLS refused: {x.Message}");
        }
        return null;
    }

    /// <summary>A second lookup of a name the resolver just said does not exist, a second later.</summary>
    private async Task<bool> ResolvesNowAsync(string host, CancellationToken cancellationToken)
    {
        await Task.Delay(TimeSpan.FromSeconds(1), _time, cancellationToken);
        try
        {
            return (await _resolve(host, cancellationToken)).Length > 0;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    /// <summary>Reads a body with the byte cap applied as it streams (a missing or false Content-Length cannot pass it);
    /// the caller's deadline covers a stalled or dripping body. With a declared length the bytes go straight into one
    /// array of that size (no growing buffer, no final copy: a 2048-px JPEG was read through five large-object copies);
    /// a body that runs past its declared length, or has none, grows the array as it comes.</summary>
    private async Task<FetchResult> ReadCappedAsync(Stream body, long? declaredLength, CancellationToken cancellationToken)
    {
        var buffer = new byte[declaredLength is > 0 and var declared && declared <= _options.MaxBytes ? (int)declared : (int)Math.Min(81_920, _options.MaxBytes)];
        var length = 0;
        while (true)
        {
            if (length == buffer.Length)
            {
                // Full: one byte more decides whether the body ends here, before anything bigger is allocated.
                var probe = new byte[1];
                if (await body.ReadAsync(probe, cancellationToken) == 0) break;
                if (length + 1L > _options.MaxBytes)
                    return FetchResult.Fail(ReasonCodes.TooManyBytes, $"the body passed the {_options.MaxBytes}-byte limit while streaming");
                Array.Resize(ref buffer, (int)Math.Min(Math.Max(2L * buffer.Length, 1), _options.MaxBytes));
                buffer[length++] = probe[0];
            }
            var read = await body.ReadAsync(buffer.AsMemory(length), cancellationToken);
            if (read == 0) break;
            length += read;
        }
        if (length != buffer.Length) Array.Resize(ref buffer, length);
        return new FetchResult(buffer, null, TimeSpan.Zero);
    }

    public void Dispose() => _http.Dispose();

    /// <summary>A source as logs may show it: scheme, host and path, never user info or the query (pre-signed URLs carry
    /// credentials there).</summary>
    internal static string ForLog(string source) =>
        Uri.TryCreate(source, UriKind.Absolute, out var uri)
            ? $"{uri.Scheme}://{uri.Host}{(uri.IsDefaultPort ? "" : $":{uri.Port}")}{uri.AbsolutePath}{(uri.Query.Length > 0 ? "?…" : "")}"
            : "(not a URI)";
}
