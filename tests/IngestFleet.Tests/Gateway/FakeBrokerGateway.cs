using IngestFleet.Contracts;
using IngestFleet.Gateway;
using IngestFleet.Gateway.Security;
using IngestFleet.Messaging.Limits;
using IngestFleet.Messaging.Publishing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace IngestFleet.Tests.Gateway;

/// <summary>The real gateway on a free port with the broker replaced by a depth source and a publisher the test controls
/// (the integration tests run the same endpoints on the real broker). Every class starts empty; the gateway's clock
/// (the keys' invalid-job buckets, the body-read deadline) is the test's, which moves only when the test advances it,
/// so no test races real time.</summary>
internal static class FakeBrokerGateway
{
    public static async Task<WebApplication> StartAsync(FakeTimeProvider time, FakeDepthSource depths, IJobPublisher publisher,
        IEnumerable<(string Name, string Key, string Tenant)> keys, Dictionary<string, string?> settings)
    {
        foreach (var p in new[] { "online", "high", "normal", "bulk" }) depths.Set(p, 0);
        settings["IngestFleet:RabbitMq:Uri"] = "amqp://guest:guest@127.0.0.1:1/"; // never reached: the broker is faked
        var i = 0;
        foreach (var (name, key, tenant) in keys)
        {
            settings[$"IngestFleet:Gateway:Auth:Keys:{i}:Name"] = name;
            settings[$"IngestFleet:Gateway:Auth:Keys:{i}:Sha256"] = ApiKeyRegistry.Hash(key);
            settings[$"IngestFleet:Gateway:Auth:Keys:{i++}:Tenants:0"] = tenant;
        }
        var app = GatewayApp.Build(settings, "http://127.0.0.1:0", LogLevel.Warning, services =>
        {
            services.AddSingleton<TimeProvider>(time); // body-read deadlines too run on the test's clock
            services.AddSingleton<IDepthSource>(depths);
            services.AddSingleton(publisher);
            services.AddSingleton(sp => new TenantRateLimiter(sp.GetRequiredService<GatewayAuthOptions>(), time));
        });
        await app.StartAsync();
        return app;
    }

    /// <summary>A client that sends <paramref name="key"/> as its bearer token.</summary>
    public static HttpClient Client(WebApplication app, string key)
    {
        var http = new HttpClient { BaseAddress = app.BoundAddress() };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        return http;
    }

    /// <summary>Records what it is asked to publish; refuses the job whose item id is <see cref="Refuse"/>.</summary>
    internal sealed class RecordingPublisher : IJobPublisher
    {
        public List<EmbedCatalogImage> Published { get; } = [];
        public string? Refuse { get; set; }

        public Task<PublishSummary> PublishAsync(IReadOnlyList<EmbedCatalogImage> jobs, Action<int>? progress, CancellationToken cancellationToken)
        {
            var failed = jobs.Where(j => j.ItemId == Refuse).Select(j => (j, "nack")).ToList();
            lock (Published) Published.AddRange(jobs.Where(j => j.ItemId != Refuse));
            return Task.FromResult(new PublishSummary(jobs.Count - failed.Count, failed));
        }
    }
}
