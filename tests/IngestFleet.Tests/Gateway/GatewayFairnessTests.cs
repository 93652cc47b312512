using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using IngestFleet.Gateway;
using IngestFleet.Gateway.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace IngestFleet.Tests.Gateway;

/// <summary>
/// Per-key fairness (issue 21, point 2), reproduced as reported: one valid key trickling job bodies at 500 B/s into every
/// slot it can get used to turn every tenant's request into 503. Here the gateway has 4 slots, 2 per key, and a 3 s body
/// deadline on the test's clock; the other key's valid request is accepted while the slow key holds its share, the slow
/// key's extra requests get 429, and once the clock passes the deadline its trickled bodies end as 408.
/// </summary>
public sealed class GatewayFairnessTests : IAsyncLifetime, IDisposable
{
    private const string SlowKey = "ifk_test-slow-key";
    private const string OtherKey = "ifk_test-other-key";
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-12-06T08:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
    private WebApplication _app = null!;
    private HttpClient _slow = null!;
    private HttpClient _other = null!;

    public async Task InitializeAsync()
    {
        _app = await FakeBrokerGateway.StartAsync(_time, new FakeDepthSource(_time), new FakeBrokerGateway.RecordingPublisher(),
            [("slow-producer", SlowKey, "slow"), ("other-producer", OtherKey, "other")], new()
            {
                ["IngestFleet:Gateway:MaxConcurrentRequests"] = "4",
                ["IngestFleet:Gateway:MaxConcurrentRequestsPerKey"] = "2",
                ["IngestFleet:Gateway:BodyReadTimeoutSeconds"] = "3",
            });
        _slow = FakeBrokerGateway.Client(_app, SlowKey);
        _other = FakeBrokerGateway.Client(_app, OtherKey);
    }

    public async Task DisposeAsync() => await _app.DisposeAsync();

    public void Dispose()
    {
        _slow.Dispose();
        _other.Dispose();
    }

    private static object Job(string tenant, string id) => new { tenant, shard = "s1", item_id = id, image = "s3://catalog/a.jpg", priority = "online" };

    [Fact]
    public async Task OneKeysSlowBodies_NeverFailAnotherKeysValidRequest_AndEndAs408()
    {
        var slots = _app.Services.GetRequiredService<RequestSlots>();
        await using var first = await TrickledPost.StartAsync(_app.BoundAddress(), SlowKey);
        await using var second = await TrickledPost.StartAsync(_app.BoundAddress(), SlowKey);
        // Both trickled bodies are being read: the slow key holds its whole share (a poll for a state, not a timing).
        for (var i = 0; i < 600 && slots.InFlight("key:slow-producer") < 2; i++) await Task.Delay(50);
        Assert.Equal(2, slots.InFlight("key:slow-producer"));

        // More requests of the slow key are refused at once, before they touch the gateway's shared slots.
        for (var i = 0; i < 4; i++)
        {
            using var more = await _slow.PostAsJsonAsync(new Uri("/v1/jobs", UriKind.Relative), new[] { Job("slow", $"more-{i}") });
            Assert.Equal(HttpStatusCode.TooManyRequests, more.StatusCode);
            Assert.Contains("too many requests in progress", await more.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            Assert.Equal(TimeSpan.FromSeconds(1), more.Headers.RetryAfter?.Delta);
        }
        // Another key's valid request is accepted meanwhile.
        using var other = await _other.PostAsJsonAsync(new Uri("/v1/jobs", UriKind.Relative), new[] { Job("other", "valid") });
        Assert.Equal(HttpStatusCode.Accepted, other.StatusCode);

        // The trickled bodies run into the deadline (on the test's clock: nothing above raced it): 408, and the slow
        // key's slots are free again.
        _time.Advance(TimeSpan.FromSeconds(4));
        Assert.StartsWith("HTTP/1.1 408", await first.StatusLineAsync(), StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 408", await second.StatusLineAsync(), StringComparison.Ordinal);
        for (var i = 0; i < 600 && slots.InFlight("key:slow-producer") > 0; i++) await Task.Delay(50);
        Assert.Equal(0, slots.InFlight("key:slow-producer"));
        using var after = await _slow.PostAsJsonAsync(new Uri("/v1/jobs", UriKind.Relative), new[] { Job("slow", "after") });
        Assert.Equal(HttpStatusCode.Accepted, after.StatusCode);
    }

    [Fact]
    public void EveryKeysShare_IsBoundedByTheGatewaysSlots()
    {
        // Per key first, then shared: two keys at their share fill this gateway, and a third key is answered 503.
        var slots = _app.Services.GetRequiredService<RequestSlots>();
        var held = new List<IDisposable>();
        foreach (var key in new[] { "key:a", "key:a", "key:b", "key:b" })
        {
            var (verdict, lease) = slots.TryEnter(key);
            Assert.Equal(RequestSlots.Verdict.Entered, verdict);
            held.Add(lease!);
        }
        Assert.Equal((RequestSlots.Verdict.KeyBusy, (IDisposable?)null), slots.TryEnter("key:a"));
        Assert.Equal((RequestSlots.Verdict.GatewayBusy, (IDisposable?)null), slots.TryEnter("key:c"));
        held[0].Dispose();
        var (again, lease2) = slots.TryEnter("key:c");
        Assert.Equal(RequestSlots.Verdict.Entered, again);
        lease2!.Dispose();
        foreach (var h in held.Skip(1)) h.Dispose();
        Assert.Equal(0, slots.InFlight("key:b"));
    }
}
