using System.Net;
using Amazon.Runtime;

namespace IngestFleet.Storage.S3;

/// <summary>
/// The S3 client's HTTP connections, as the SDK makes them, except that a PUT sends its body without waiting for
/// "100 Continue". The SDK asks <c>Expect: 100-continue</c> on every PutObject, and .NET then holds the body back until
/// the server answers (up to a second), so each PUT costs one more round trip: on a node tens of milliseconds from its
/// bucket, a round trip per batch part and dead letter (latency benchmark: a part's write took 2 round trips, not 1).
/// The wait only saves sending a body the server would refuse; the fleet's bodies (a batch's Parquet part, a JSON
/// record) are small. Everything else stays the SDK's: no redirects followed, no decompression, its connection cap, its
/// connect and request timeouts, its proxy, one cached pool per client configuration.
/// </summary>
internal sealed class S3HttpClientFactory : HttpClientFactory
{
    public override HttpClient CreateHttpClient(IClientConfig clientConfig)
    {
#pragma warning disable CA2000 // the HttpClient owns and disposes its handler
        var handler = new SocketsHttpHandler
        {
            Expect100ContinueTimeout = TimeSpan.Zero,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            MaxConnectionsPerServer = clientConfig.MaxConnectionsPerServer ?? int.MaxValue,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5), // DNS changes of the endpoint are picked up
        };
        if (clientConfig.ConnectTimeout is { } connect) handler.ConnectTimeout = connect;
        if (clientConfig.GetWebProxy() is { } proxy)
        {
            handler.Proxy = proxy;
            handler.UseProxy = true;
        }
        return new HttpClient(handler) { Timeout = clientConfig.Timeout ?? TimeSpan.FromSeconds(100) };
#pragma warning restore CA2000
    }

    public override bool UseSDKHttpClientCaching(IClientConfig clientConfig) => true;

    public override bool DisposeHttpClientsAfterUse(IClientConfig clientConfig) => false;

    /// <summary>Clients of the same connection settings share their pools, as the SDK's own cache groups them.</summary>
    public override string GetConfigUniqueString(IClientConfig clientConfig) =>
        $"ingestfleet-s3:{clientConfig.MaxConnectionsPerServer}:{clientConfig.Timeout}:{clientConfig.ConnectTimeout}:{clientConfig.ProxyHost}:{clientConfig.ProxyPort}";
}
