using System.Net;
using IngestFleet.Contracts;
using IngestFleet.Worker.Fetching;
using Microsoft.Extensions.Logging.Abstractions;

namespace IngestFleet.Tests.Worker;

public class SsrfGuardTests
{
    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("10.1.2.3")]
    [InlineData("172.16.0.1")]
    [InlineData("192.168.1.1")]
    [InlineData("169.254.169.254")] // cloud metadata
    [InlineData("100.64.0.1")]      // CGNAT
    [InlineData("0.0.0.0")]
    [InlineData("224.0.0.1")]
    [InlineData("::1")]
    [InlineData("fe80::1")]
    [InlineData("fd00::1")]
    [InlineData("::ffff:10.0.0.1")] // IPv4-mapped private
    [InlineData("64:ff9b::a9fe:a9fe")]   // NAT64 of 169.254.169.254
    [InlineData("64:ff9b::7f00:1")]      // NAT64 of 127.0.0.1
    [InlineData("64:ff9b:1::1")]         // local-use NAT64
    [InlineData("2002:c0a8:0101::1")]    // 6to4 of 192.168.1.1
    [InlineData("2002:7f00:0001::1")]    // 6to4 of 127.0.0.1
    [InlineData("192.0.2.10")]           // TEST-NET-1
    [InlineData("198.51.100.7")]         // TEST-NET-2
    [InlineData("203.0.113.9")]          // TEST-NET-3
    [InlineData("198.18.0.1")]           // benchmarking
    [InlineData("2001:db8::1")]          // documentation
    [InlineData("2001:2::1")]            // benchmarking
    [InlineData("100::1")]               // discard-only
    public void NonPublicAddresses_AreRefused(string address) => Assert.False(SsrfGuard.IsPublic(IPAddress.Parse(address)));

    [Theory]
    [InlineData("93.184.216.34")]
    [InlineData("8.8.8.8")]
    [InlineData("2606:4700:4700::1111")]
    [InlineData("64:ff9b::808:808")]     // NAT64 of 8.8.8.8
    [InlineData("2002:0808:0808::1")]    // 6to4 of 8.8.8.8
    public void PublicAddresses_AreAllowed(string address) => Assert.True(SsrfGuard.IsPublic(IPAddress.Parse(address)));

    [Theory]
    [InlineData("https://127.0.0.1:1/cat.jpg")]
    [InlineData("https://localhost:1/cat.jpg")]
    public async Task HttpsToLoopback_IsRefusedBeforeConnecting(string source)
    {
        using var fetcher = new ImageFetcher(new FetchOptions(), null, NullLogger<ImageFetcher>.Instance);
        var r = await fetcher.FetchAsync(source, CancellationToken.None);
        Assert.Equal(ReasonCodes.SourceForbidden, r.Rejection?.Code);
        Assert.Contains("non-public", r.Rejection?.Detail);
    }

    [Theory]
    [InlineData("http://example.com/a.jpg")]
    [InlineData("file:///etc/passwd")]
    [InlineData("ftp://example.com/a.jpg")]
    public async Task OtherSchemes_AreRefusedOutsideEmbeddedMode(string source)
    {
        using var fetcher = new ImageFetcher(new FetchOptions(), null, NullLogger<ImageFetcher>.Instance);
        Assert.Equal(ReasonCodes.SourceForbidden, (await fetcher.FetchAsync(source, CancellationToken.None)).Rejection?.Code);
    }
}
