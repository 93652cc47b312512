using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using IngestFleet.Contracts;
using IngestFleet.Gateway;
using IngestFleet.Gateway.Security;
using IngestFleet.Messaging.Limits;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace IngestFleet.Tests.Gateway;

/// <summary>The gateway's answers (<see cref="FakeBrokerGateway"/>: the broker replaced by a depth source and a publisher
/// the test controls).</summary>
public sealed class GatewayAnswersTests : IAsyncLifetime, IDisposable
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-11-30T08:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
    private readonly FakeDepthSource _depths;
    private readonly FakeBrokerGateway.RecordingPublisher _publisher = new();
    private WebApplication _app = null!;
    private HttpClient _http = null!;

    public GatewayAnswersTests() => _depths = new FakeDepthSource(_time);

    public async Task InitializeAsync()
    {
        _app = await FakeBrokerGateway.StartAsync(_time, _depths, _publisher, [("acme-producer", AcmeKey, "acme"), ("other-producer", OtherKey, "other")], new()
        {
            ["IngestFleet:Limits:Queues:online:MaxDepth"] = "5",
            ["IngestFleet:Gateway:Auth:TenantJobsPerSecond"] = "1",
            ["IngestFleet:Gateway:Auth:TenantBurst"] = "20",
        });
        _http = FakeBrokerGateway.Client(_app, AcmeKey);
    }

    private const string AcmeKey = "ifk_test-acme-key";
    private const string OtherKey = "ifk_test-other-key";

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
    public async Task WithoutAKey_OrWithAnUnknownOne_TheAnswerIs401_AndNothingIsPublished()
    {
        using var anonymous = new HttpClient { BaseAddress = _app.BoundAddress() };
        var r = await anonymous.PostAsJsonAsync(new Uri("/v1/jobs", UriKind.Relative), new[] { Job("a") });
        Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        anonymous.DefaultRequestHeaders.Add("X-Api-Key", "ifk_not-a-key");
        r = await anonymous.PostAsJsonAsync(new Uri("/v1/jobs", UriKind.Relative), new[] { Job("a") });
        Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        Assert.Empty(_publisher.Published);
    }

    [Fact]
    public async Task AKeyForAnotherTenant_Gets403_NamingTheTenant()
    {
        using var other = new HttpClient { BaseAddress = _app.BoundAddress() };
        other.DefaultRequestHeaders.Add("X-Api-Key", OtherKey);
        var r = await other.PostAsJsonAsync(new Uri("/v1/jobs", UriKind.Relative), new[] { Job("a") });
        Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        Assert.Contains("acme", await r.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Empty(_publisher.Published);
    }

    /// <summary>Issue 21, point 5: one tenant cannot fill a class for everybody. The online queue's max depth is 5 here and a
    /// tenant's share the default 0.5: acme's third job is refused while the other tenant's two are accepted.</summary>
    [Fact]
    public async Task ATenantPastItsShareOfAQueue_Gets429_AnotherTenantStillGets202()
    {
        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(new[] { Job("s1"), Job("s2") })).StatusCode);
        var r = await PostAsync(Job("s3"));
        Assert.Equal((HttpStatusCode)429, r.StatusCode);
        // No acks sampled (the fake depth source's rate is 0): Retry-After is the online class's published wait SLO, 2 s.
        Assert.Equal(TimeSpan.FromSeconds(2), r.Headers.RetryAfter?.Delta);
        var body = await r.Content.ReadAsStringAsync();
        Assert.Contains("Tenant over its share of the queue", body, StringComparison.Ordinal);
        Assert.Contains("tenant acme", body, StringComparison.Ordinal);

        using var other = FakeBrokerGateway.Client(_app, OtherKey);
        var o = await other.PostAsJsonAsync(new Uri("/v1/jobs", UriKind.Relative),
            Enumerable.Range(1, 2).Select(i => new { tenant = "other", shard = "s1", item_id = $"o{i}", image = "s3://catalog/a.jpg", priority = "online" }).ToArray());
        Assert.Equal(HttpStatusCode.Accepted, o.StatusCode);
        Assert.Equal(4, _publisher.Published.Count);
    }

    [Fact]
    public async Task ARequestLargerThanTheTenantsShare_Gets413_ItCouldNeverBeAdmitted()
    {
        var r = await PostAsync(new[] { Job("t1"), Job("t2"), Job("t3") }); // the share of a 5-deep queue is 2.5 jobs
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, r.StatusCode);
        Assert.Contains("tenant's share of the queue", await r.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Empty(_publisher.Published);
    }

    [Fact]
    public void APerTenantRate_ReplacesTheDefaultBurstAndRate()
    {
        var options = new GatewayAuthOptions { TenantJobsPerSecond = 1, TenantBurst = 20 };
        options.TenantRates["big"] = new TenantRate { Burst = 40 };
        using var limiter = new TenantRateLimiter(options, _time);
        Assert.True(limiter.TryTake("big", 30).Granted);
        Assert.False(limiter.TryTake("acme", 30).Granted);
        Assert.Equal((1, 40), options.RateOf("big"));
    }

    [Fact]
    public async Task ATenantPastItsRate_Gets429WithRetryAfter_AnotherTenantIsNotAffected()
    {
        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(Enumerable.Range(0, 15).Select(i => Job($"a{i}", "bulk")).ToArray())).StatusCode);
        var r = await PostAsync(Enumerable.Range(0, 15).Select(i => Job($"b{i}", "bulk")).ToArray()); // 30 > the burst of 20
        Assert.Equal((HttpStatusCode)429, r.StatusCode);
        Assert.True(r.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
        Assert.Contains("Tenant acme", await r.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(15, _publisher.Published.Count);

        using var other = new HttpClient { BaseAddress = _app.BoundAddress() };
        other.DefaultRequestHeaders.Add("X-Api-Key", OtherKey);
        var o = await other.PostAsJsonAsync(new Uri("/v1/jobs", UriKind.Relative),
            Enumerable.Range(0, 15).Select(i => new { tenant = "other", shard = "s1", item_id = $"o{i}", image = "s3://catalog/a.jpg", priority = "bulk" }).ToArray());
        Assert.Equal(HttpStatusCode.Accepted, o.StatusCode);
    }

    [Fact]
    public async Task TheOpenApiDocument_SaysHowToAuthenticate()
    {
        using var doc = JsonDocument.Parse(await _http.GetStringAsync(new Uri("/openapi/v1.json", UriKind.Relative)));
        var schemes = doc.RootElement.GetProperty("components").GetProperty("securitySchemes");
        Assert.Equal("X-Api-Key", schemes.GetProperty("ApiKey").GetProperty("name").GetString());
        var post = doc.RootElement.GetProperty("paths").GetProperty("/v1/jobs").GetProperty("post");
        Assert.Equal(2, post.GetProperty("security").GetArrayLength());
        Assert.Superset(new HashSet<string> { "401", "403" }, post.GetProperty("responses").EnumerateObject().Select(p => p.Name).ToHashSet());
    }

    [Fact]
    public void WithNoKeysAndNoAnonymousAccess_TheGatewayRefusesToStart()
    {
        var e = Assert.Throws<InvalidOperationException>(() => GatewayApp.Build(new Dictionary<string, string?>
        {
            ["IngestFleet:RabbitMq:Uri"] = "amqp://guest:guest@127.0.0.1:1/",
        }, "http://127.0.0.1:0", LogLevel.Warning));
        Assert.Contains("AllowAnonymous", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheSchemaEndpoint_ServesTheContract() =>
        Assert.Equal(JobSchema.Text, await _http.GetStringAsync(new Uri("/v1/schema", UriKind.Relative)));

    /// <summary>Health and limits answer anyone: a broker failure's text (hosts, addresses, a driver's message) stays in
    /// the log, the answers say only that the broker does not answer.</summary>
    [Fact]
    public async Task BrokerErrorText_NeverReachesAnonymousAnswers()
    {
        _depths.BrokerError = "cannot reach RabbitMQ at amqp://***@rabbit.internal:5672/: Connection refused (10.1.2.3:5672)";
        using var anonymous = new HttpClient { BaseAddress = _app.BoundAddress() };
        using var ready = await anonymous.GetAsync(new Uri("/healthz/ready", UriKind.Relative));
        var readyBody = await ready.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        using var limits = await anonymous.GetAsync(new Uri("/v1/limits", UriKind.Relative));
        var limitsBody = await limits.Content.ReadAsStringAsync();
        foreach (var body in new[] { readyBody, limitsBody })
        {
            Assert.DoesNotContain("rabbit.internal", body, StringComparison.Ordinal);
            Assert.DoesNotContain("10.1.2.3", body, StringComparison.Ordinal);
            Assert.DoesNotContain("refused", body, StringComparison.Ordinal);
        }
        Assert.Contains("does not answer", limitsBody, StringComparison.Ordinal);
        Assert.Contains("Unhealthy", readyBody, StringComparison.Ordinal);
    }

    /// <summary>Bounded answers (issue 21): a job with thousands of unknown fields is refused in one line before the
    /// schema runs; many invalid jobs are listed up to a cap; a lone surrogate is a 400, not a 500.</summary>
    [Fact]
    public async Task HostileBodies_GetSmallBoundedAnswers()
    {
        // Each invalid request is charged to the key (burst 20): the last one spends it, so the order matters.
        const string surrogate = "{\"tenant\":\"acme\",\"shard\":\"s1\",\"item_id\":\"a\\ud800b\",\"image\":\"s3://c/a.jpg\",\"priority\":\"online\"}";
        using var loneContent = new StringContent(surrogate, Encoding.UTF8, "application/json");
        using var lone = await _http.PostAsync(new Uri("/v1/jobs", UriKind.Relative), loneContent);
        Assert.Equal(HttpStatusCode.BadRequest, lone.StatusCode);
        Assert.Contains("malformed Unicode", await lone.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var fields = new StringBuilder("{\"tenant\":\"acme\",\"shard\":\"s1\",\"item_id\":\"x\",\"image\":\"s3://c/a.jpg\",\"priority\":\"online\"");
        for (var i = 0; i < 20_000; i++) fields.Append(CultureInfo(i));
        fields.Append('}');
        using var wideContent = new StringContent(fields.ToString(), Encoding.UTF8, "application/json");
        using var wide = await _http.PostAsync(new Uri("/v1/jobs", UriKind.Relative), wideContent);
        var wideBody = await wide.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadRequest, wide.StatusCode);
        Assert.True(wideBody.Length < 2_000, $"{wideBody.Length} characters");
        Assert.Contains("at most 32", wideBody, StringComparison.Ordinal);

        var many = Enumerable.Range(0, 60).Select(i => new { tenant = "acme", shard = "s1", item_id = $"bad-{i}", image = "ftp://nope", priority = "nope" }).ToArray();
        using var listed = await PostAsync(new { jobs = many });
        using var doc = JsonDocument.Parse(await listed.Content.ReadAsStringAsync());
        var errors = doc.RootElement.GetProperty("errors");
        Assert.Equal(21, errors.EnumerateObject().Count()); // 20 jobs and "more"
        Assert.Contains("40 more", errors.GetProperty("more")[0].GetString(), StringComparison.Ordinal);
        Assert.StartsWith("60 of 60", doc.RootElement.GetProperty("title").GetString(), StringComparison.Ordinal);

        static string CultureInfo(int i) => $",\"f{i}\":{i}";
    }

    /// <summary>Invalid jobs are charged to the key that sends them (burst 20 here): past its allowance the key gets 429
    /// before its body is read, while another key is unaffected.</summary>
    [Fact]
    public async Task InvalidJobs_AreChargedToTheirKey()
    {
        var junk = Enumerable.Range(0, 25).Select(i => new { tenant = "acme", shard = "s1", item_id = $"j{i}", image = "ftp://nope", priority = "online" }).ToArray();
        using (var first = await PostAsync(new { jobs = junk })) Assert.Equal(HttpStatusCode.BadRequest, first.StatusCode);
        using var then = await PostAsync(Job("fine"));
        Assert.Equal(HttpStatusCode.TooManyRequests, then.StatusCode);
        Assert.True(then.Headers.RetryAfter is not null);
        using var other = new HttpClient { BaseAddress = _app.BoundAddress() };
        other.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", OtherKey);
        using var otherAnswer = await other.PostAsJsonAsync(new Uri("/v1/jobs", UriKind.Relative), new { tenant = "other", shard = "s1", item_id = "o1", image = "s3://catalog/a.jpg", priority = "online" });
        Assert.Equal(HttpStatusCode.Accepted, otherAnswer.StatusCode);
    }

    /// <summary>Invalid jobs split so that no request fits what is left of the bucket (15 + 15 against 20) still spend
    /// it: a request takes what is left.</summary>
    [Fact]
    public async Task InvalidJobs_SplitAcrossRequests_StillSpendTheKey()
    {
        var junk = Enumerable.Range(0, 15).Select(i => new { tenant = "acme", shard = "s1", item_id = $"j{i}", image = "ftp://nope", priority = "online" }).ToArray();
        using (var first = await PostAsync(new { jobs = junk })) Assert.Equal(HttpStatusCode.BadRequest, first.StatusCode);
        using (var second = await PostAsync(new { jobs = junk })) Assert.Equal(HttpStatusCode.BadRequest, second.StatusCode);
        using var then = await PostAsync(Job("fine"));
        Assert.Equal(HttpStatusCode.TooManyRequests, then.StatusCode);
    }
}
