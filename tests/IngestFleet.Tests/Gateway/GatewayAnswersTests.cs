using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using IngestFleet.Contracts;
using IngestFleet.Gateway;
using IngestFleet.Messaging.Limits;
using IngestFleet.Messaging.Publishing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace IngestFleet.Tests.Gateway;

/// <summary>The gateway's answers, with the broker replaced by a depth source and a publisher the test controls (the
/// integration tests run the same endpoints on the real broker).</summary>
public sealed class GatewayAnswersTests : IAsyncLifetime, IDisposable
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-11-30T08:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
    private readonly FakeDepthSource _depths;
    private readonly RecordingPublisher _publisher = new();
    private WebApplication _app = null!;
    private HttpClient _http = null!;

    public GatewayAnswersTests()
    {
        _depths = new FakeDepthSource(_time);
        foreach (var p in new[] { "online", "high", "normal", "bulk" }) _depths.Set(p, 0);
    }

    public async Task InitializeAsync()
    {
        _app = GatewayApp.Build(new Dictionary<string, string?>
        {
            ["IngestFleet:RabbitMq:Uri"] = "amqp://guest:guest@127.0.0.1:1/", // never reached: the broker is faked
            ["IngestFleet:Limits:Queues:online:MaxDepth"] = "5",
        }, "http://127.0.0.1:0", LogLevel.Warning, services =>
        {
            services.AddSingleton<IDepthSource>(_depths);
            services.AddSingleton<IJobPublisher>(_publisher);
        });
        await _app.StartAsync();
        _http = new HttpClient { BaseAddress = _app.BoundAddress() };
    }

    public async Task DisposeAsync() => await _app.DisposeAsync();

    public void Dispose() => _http.Dispose();

    private static object Job(string id, string priority = "online") => new { tenant = "acme", shard = "s1", item_id = id, image = "s3://catalog/a.jpg", priority };

    private Task<HttpResponseMessage> PostAsync(object body) => _http.PostAsJsonAsync(new Uri("/v1/jobs", UriKind.Relative), body);

    [Fact]
    public async Task ValidJobs_Get202_AndArePublished()
    {
        var r = await PostAsync(new[] { Job("a"), Job("b") });
        Assert.Equal(HttpStatusCode.Accepted, r.StatusCode);
        using var body = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
        Assert.Equal(2, body.RootElement.GetProperty("accepted").GetInt32());
        Assert.Equal(["a", "b"], _publisher.Published.Select(j => j.ItemId));
    }

    [Theory]
    [InlineData("""{"tenant":"acme","shard":"s1","item_id":"a","image":"s3://c/a.jpg","priority":"online","colour":"red"}""", "/colour")]
    [InlineData("""{"tenant":"acme","shard":"s1","item_id":"a","image":"s3://c/a.jpg"}""", "priority")]
    [InlineData("""{"tenant":"acme","shard":"s1","item_id":"a","image":"ftp://c/a.jpg","priority":"online"}""", "scheme 'ftp'")]
    [InlineData("""{"tenant":"acme","shard":"s1","item_id":"a","image":"s3://c/a.jpg","priority":"urgent"}""", "priority 'urgent'")]
    public async Task InvalidJobs_Get400NamingTheField_AndNothingIsPublished(string json, string expected)
    {
        using var content = new StringContent(json, Encoding.UTF8, "application/json");
        var r = await _http.PostAsync(new Uri("/v1/jobs", UriKind.Relative), content);
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        Assert.Contains(expected, await r.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Empty(_publisher.Published);
    }

    [Fact]
    public async Task OverThePublishedMaxDepth_Gets429WithRetryAfter_AndNothingIsPublished()
    {
        _depths.Set("online", ready: 4);
        var r = await PostAsync(new[] { Job("a"), Job("b") });
        Assert.Equal((HttpStatusCode)429, r.StatusCode);
        Assert.True(r.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
        Assert.Contains("max depth 5", await r.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Empty(_publisher.Published);
    }

    [Fact]
    public async Task BrokerDown_Gets503WithRetryAfter_AndReadinessFails_LivenessHolds()
    {
        _depths.BrokerError = "cannot reach RabbitMQ at amqp://***@127.0.0.1:1/";
        var r = await PostAsync(Job("a"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, r.StatusCode);
        Assert.NotNull(r.Headers.RetryAfter);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await _http.GetAsync(new Uri("/healthz/ready", UriKind.Relative))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync(new Uri("/healthz/live", UriKind.Relative))).StatusCode);
    }

    [Fact]
    public async Task AJobTheBrokerDidNotConfirm_IsListed_TheOthersAreAccepted()
    {
        _publisher.Refuse = "b";
        var r = await PostAsync(new[] { Job("a"), Job("b") });
        Assert.Equal(HttpStatusCode.ServiceUnavailable, r.StatusCode);
        using var body = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
        Assert.Equal(["a"], body.RootElement.GetProperty("accepted").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("b", body.RootElement.GetProperty("not_confirmed")[0].GetProperty("item_id").GetString());
    }

    [Fact]
    public async Task TheOpenApiDocument_DescribesTheJobsEndpointAndItsAnswers()
    {
        using var doc = JsonDocument.Parse(await _http.GetStringAsync(new Uri("/openapi/v1.json", UriKind.Relative)));
        Assert.Equal("IngestFleet gateway", doc.RootElement.GetProperty("info").GetProperty("title").GetString());
        var post = doc.RootElement.GetProperty("paths").GetProperty("/v1/jobs").GetProperty("post");
        var answers = post.GetProperty("responses").EnumerateObject().Select(p => p.Name).ToList();
        Assert.Superset(new HashSet<string> { "202", "400", "413", "429", "503" }, answers.ToHashSet());
        Assert.True(doc.RootElement.GetProperty("paths").TryGetProperty("/v1/limits", out _));
    }

    [Fact]
    public async Task TheSchemaEndpoint_ServesTheContract() =>
        Assert.Equal(JobSchema.Text, await _http.GetStringAsync(new Uri("/v1/schema", UriKind.Relative)));

    /// <summary>Records what it is asked to publish; refuses the job whose item id is <see cref="Refuse"/>.</summary>
    private sealed class RecordingPublisher : IJobPublisher
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
