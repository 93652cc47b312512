using System.Net;
using System.Net.Sockets;
using Amazon.S3;
using IngestFleet.Contracts;
using Microsoft.Extensions.Logging;

namespace IngestFleet.Worker.Fetching;

/// <summary>The bytes of one image, or the reason code for why there are none.</summary>
public readonly record struct FetchResult(byte[]? Bytes, string? Reason, string? Detail, TimeSpan Elapsed)
{
    public static FetchResult Fail(string reason, string detail) => new(null, reason, detail, TimeSpan.Zero);
}

/// <summary>Fetch limits. Bound from <c>IngestFleet:Fetch</c>.</summary>
public sealed class FetchOptions
{
    public const string SectionName = "IngestFleet:Fetch";

    /// <value>Default 32 MiB, the same as the preprocessing byte limit.</value>
    public long MaxBytes { get; set; } = 32L * 1024 * 1024;

    /// <value>Default 15 s per image, connect included.</value>
    public int TimeoutSeconds { get; set; } = 15;

    /// <summary>Hosts allowed for https:// images; empty allows any public host (private ranges are always refused).</summary>
    public string[] AllowedHosts { get; set; } = [];

    /// <summary>file:// sources: only the embedded single-process mode turns this on.</summary>
    public bool AllowFileScheme { get; set; }

    /// <value>Default 3 redirects, each re-checked by the SSRF guard.</value>
    public int MaxRedirects { get; set; } = 3;
}

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
        _http = new HttpClient(SsrfGuard.CreateHandler(), disposeHandler: true)
        {
            Timeout = TimeSpan.FromSeconds(options.TimeoutSeconds),
            MaxResponseContentBufferSize = options.MaxBytes,
        };
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
        return new FetchResult(await File.ReadAllBytesAsync(path, cancellationToken), null, null, TimeSpan.Zero);
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
            return new FetchResult(ms.ToArray(), null, null, TimeSpan.Zero);
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
                if (response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.Gone)
                    return FetchResult.Fail(ReasonCodes.SourceNotFound, $"{uri.Host} answered {(int)response.StatusCode}");
                if (!response.IsSuccessStatusCode)
                    return FetchResult.Fail(ReasonCodes.FetchFailed, $"{uri.Host} answered {(int)response.StatusCode}");
                if (response.Content.Headers.ContentLength > _options.MaxBytes)
                    return FetchResult.Fail(ReasonCodes.TooManyBytes, $"{response.Content.Headers.ContentLength} bytes exceeds the {_options.MaxBytes}-byte limit");
                return new FetchResult(await response.Content.ReadAsByteArrayAsync(cancellationToken), null, null, TimeSpan.Zero);
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

    public void Dispose() => _http.Dispose();
}

/// <summary>Raised inside the connect callback when an address is not a public unicast address.</summary>
public sealed class SsrfRefusedException(string message) : Exception(message);

/// <summary>
/// Resolves the host once, refuses loopback, private, link-local (cloud metadata), CGNAT, multicast, unspecified,
/// IPv6 ULA/link-local and IPv4-mapped private addresses, then connects to the address it checked (no second lookup
/// that DNS rebinding could answer differently).
/// </summary>
public static class SsrfGuard
{
    public static SocketsHttpHandler CreateHandler() => new()
    {
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        ConnectTimeout = TimeSpan.FromSeconds(5),
        ConnectCallback = async (context, cancellationToken) =>
        {
            var addresses = await Dns.GetHostAddressesAsync(context.DnsEndPoint.Host, cancellationToken);
            var allowed = addresses.FirstOrDefault(IsPublic)
                ?? throw new SsrfRefusedException($"{context.DnsEndPoint.Host} resolves only to non-public addresses ({string.Join(", ", addresses.Select(a => a.ToString()))})");
            var socket = new Socket(allowed.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(allowed, context.DnsEndPoint.Port), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    };

    public static bool IsPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) || address.Equals(IPAddress.Broadcast))
            return false;
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = address.GetAddressBytes();
            return !(b[0] == 10 || b[0] == 0 || b[0] == 127
                || (b[0] == 172 && b[1] is >= 16 and <= 31)
                || (b[0] == 192 && b[1] == 168)
                || (b[0] == 169 && b[1] == 254)
                || (b[0] == 100 && b[1] is >= 64 and <= 127)
                || (b[0] == 192 && b[1] == 0 && b[2] == 0)
                || (b[0] == 198 && b[1] is 18 or 19)
                || b[0] >= 224);
        }
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            var b = address.GetAddressBytes();
            return !(address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6Multicast
                || (b[0] & 0xFE) == 0xFC // fc00::/7 unique local
                || address.IsIPv6Teredo);
        }
        return false;
    }
}
