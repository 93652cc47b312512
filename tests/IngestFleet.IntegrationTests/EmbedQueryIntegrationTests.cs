using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using IngestFleet.Embedding;
using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Models;
using IngestFleet.Embedding.Preprocessing;
using IngestFleet.Embedding.Text;
using IngestFleet.Gateway;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;

namespace IngestFleet.IntegrationTests;

#pragma warning disable CA1861 // request bodies written inline, each used once

/// <summary><c>POST /v1/embed</c> end to end on the real broker and S3 server: the gateway's request/reply to a worker's
/// query queue, the answer's vectors against the same towers run here, and the 422/429/503/504 answers.</summary>
[Collection(FleetTests.Name)]
public sealed class EmbedQueryIntegrationTests(FleetFixture fixture)
{
    private static readonly string Photo = Path.Combine(AppContext.BaseDirectory, "data", "photos", "coffee.jpg");
    private static string ClipManifest => Path.Combine(AppContext.BaseDirectory, "models", "clip-tiny-r1", "manifest.json");

    private static async Task<(WebApplication App, HttpClient Http)> StartGatewayAsync(FleetWorld world, Dictionary<string, string?>? extra = null)
    {
        var config = world.Settings().ToDictionary(kv => kv.Key.Replace("__", ":", StringComparison.Ordinal), kv => (string?)kv.Value);
        config["IngestFleet:Gateway:Auth:AllowAnonymous"] = "true"; // key checks are the same as /v1/jobs' (unit-tested)
        foreach (var (k, v) in extra ?? []) config[k] = v;
        var app = GatewayApp.Build(config, "http://127.0.0.1:0", LogLevel.Warning);
        await app.StartAsync();
        return (app, new HttpClient { BaseAddress = app.BoundAddress(), Timeout = TimeSpan.FromSeconds(60) });
    }

    [Fact]
    public async Task TextsAndImages_AreAnsweredByTheWorker_WithTheVectorsTheRevisionsTowersGive()
    {
        using var world = await fixture.NewWorldAsync();
        await world.Store.PutAsync("images/coffee.jpg", await File.ReadAllBytesAsync(Photo), "image/jpeg", CancellationToken.None);
        await using var worker = await WorkerHost.StartAsync(world);
        var (app, http) = await StartGatewayAsync(world);
        await using var _ = app;
        using var __ = http;

        string[] texts = ["a red leather handbag", "Blue Denim JACKET, size M 👖"];
        using var response = await http.PostAsJsonAsync("/v1/embed", new
        {
            model = "clip-tiny-r1", tenant = "acme", texts, images = new[] { $"s3://{world.Bucket}/images/coffee.jpg", $"s3://{world.Bucket}/images/missing.jpg" },
            deadline_ms = 20_000,
        });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        using var doc = JsonDocument.Parse(body);
        var root = doc.RootElement;
        Assert.Equal("clip-tiny-r1", root.GetProperty("model").GetString());
        Assert.Equal(512, root.GetProperty("dimension").GetInt32());

        var m = ManifestLoader.Load(ClipManifest);
        Assert.Equal(m.Text!.ContractHash(), root.GetProperty("text_contract").GetString());
        using var tower = TextEmbedder.Load(m, 1);
        var local = tower.Embed(texts);
        var answered = root.GetProperty("texts").EnumerateArray().ToList();
        Assert.Equal(2, answered.Count);
        for (var i = 0; i < 2; i++)
        {
            var v = answered[i].GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle()).ToArray();
            Assert.Equal(512, v.Length);
            Assert.True(VectorMath.Cosine(v, local[i]) > 0.99999, $"text {i}: the worker's vector is the local tower's");
            Assert.Equal(tower.Tokenizer.Encode(texts[i]).Length, answered[i].GetProperty("tokens").GetInt32());
        }

        using var image = Embedder.Load(m, new EmbedderOptions { ExecutionProvider = ExecutionProvider.Cpu, IntraOpThreads = 1 });
        var expected = new EmbeddingPipeline(new ImagePreprocessor(m.Preprocess), image).Process([await File.ReadAllBytesAsync(Photo)], 1)[0].Vector!;
        var images = root.GetProperty("images").EnumerateArray().ToList();
        var got = images[0].GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        Assert.True(VectorMath.Cosine(got, expected) > 0.9999, "the image's vector is the one the revision's image tower gives");
        Assert.Equal("source_not_found", images[1].GetProperty("error").GetProperty("code").GetString());
        Assert.Equal(0, worker.Ledger.Items); // a query writes nothing: no vector, no dead letter
    }

    /// <summary>Where no worker serves the revision the gateway answers 503 at once (a bulk-only worker does not answer
    /// queries: they are served in the most urgent class); where its queue exists but no worker consumes it, 504 at the
    /// deadline; a full query queue answers 429 at once.</summary>
    [Fact]
    public async Task NoWorker_Is503_NoAnswerInTime_Is504_AFullQueue_Is429()
    {
        using var world = await fixture.NewWorldAsync();
        await using (await WorkerHost.StartAsync(world, extra: new() { ["IngestFleet:Fleet:Consume:0"] = "bulk" }))
        {
            var (bulkGateway, bulkHttp) = await StartGatewayAsync(world);
            await using var _bulkGateway = bulkGateway;
            using var _bulkHttp = bulkHttp;
            await Task.Delay(1500); // a worker that answers queries has declared its queue by now (it does so before anything else)
            using var bulkOnly = await bulkHttp.PostAsJsonAsync("/v1/embed", new { model = "clip-tiny-r1", texts = new[] { "x" } });
            Assert.Equal(HttpStatusCode.ServiceUnavailable, bulkOnly.StatusCode);
        }
        // A worker declares its revision's query queue (capped at one waiting query here), then stops.
        await using (await WorkerHost.StartAsync(world, extra: new() { ["IngestFleet:Fleet:QueryQueueMaxLength"] = "1" }))
            await QueueArgumentsAsync(world, $"{world.QueuePrefix}query-clip-tiny-r1");
        var (app, http) = await StartGatewayAsync(world);
        await using var _ = app;
        using var __ = http;

        using (var none = await http.PostAsJsonAsync("/v1/embed", new { model = "nobody-r9", texts = new[] { "x" } }))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, none.StatusCode);
            Assert.Contains("nobody-r9", await none.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            Assert.True(none.Headers.RetryAfter is not null);
        }

        var started = DateTimeOffset.UtcNow;
#pragma warning disable CA2025 // awaited below, before the client is disposed
        // A quorum queue takes one message past x-max-length before it refuses (measured on RabbitMQ 3.10: with a cap of 1
        // the third publish is nacked), so two queries wait and the third is refused.
        var waiting = http.PostAsJsonAsync("/v1/embed", new { model = "clip-tiny-r1", texts = new[] { "first" }, deadline_ms = 3_000 });
        await Task.Delay(300);
        var waitingToo = http.PostAsJsonAsync("/v1/embed", new { model = "clip-tiny-r1", texts = new[] { "second" }, deadline_ms = 3_000 });
        await Task.Delay(300);
        using (var full = await http.PostAsJsonAsync("/v1/embed", new { model = "clip-tiny-r1", texts = new[] { "third" }, deadline_ms = 3_000 }))
        {
            Assert.True(full.StatusCode == (HttpStatusCode)429, await full.Content.ReadAsStringAsync());
            Assert.True(full.Headers.RetryAfter is not null);
        }
        using var lateToo = await waitingToo;
        Assert.Equal(HttpStatusCode.GatewayTimeout, lateToo.StatusCode);
        using var late = await waiting;
#pragma warning restore CA2025
        Assert.Equal(HttpStatusCode.GatewayTimeout, late.StatusCode);
        Assert.True(DateTimeOffset.UtcNow - started >= TimeSpan.FromSeconds(2.9), "the 504 comes at the deadline, not before");
    }

    /// <summary>The queue's arguments once it exists (the worker declares it as it starts answering).</summary>
    private static async Task<string> QueueArgumentsAsync(FleetWorld world, string queue)
    {
        using var http = new HttpClient { BaseAddress = new Uri(world.Fixture.ManagementUri.TrimEnd('/') + "/") };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic", Convert.ToBase64String("guest:guest"u8.ToArray()));
        for (var i = 0; i < 100; i++)
        {
            using var r = await http.GetAsync(new Uri($"api/queues/%2F/{Uri.EscapeDataString(queue)}", UriKind.Relative));
            if (r.IsSuccessStatusCode)
                return JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.GetProperty("arguments").ToString();
            await Task.Delay(100);
        }
        throw new TimeoutException($"{queue} was not declared within 10 s");
    }

    [Fact]
    public async Task TextsForAnImageOnlyRevision_Are422_AndInvalidRequests400Or413()
    {
        using var world = await fixture.NewWorldAsync();
        var dir = Path.Combine(Path.GetTempPath(), "ingestfleet-it", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        foreach (var f in new[] { "model.onnx", "golden.bin", "manifest.json" })
            File.Copy(Path.Combine(Path.GetDirectoryName(ClipManifest)!, f), Path.Combine(dir, f));
        var manifest = System.Text.Json.Nodes.JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(dir, "manifest.json")))!;
        manifest.AsObject().Remove("text");
        await File.WriteAllTextAsync(Path.Combine(dir, "manifest.json"), manifest.ToJsonString());
        await using var worker = await WorkerHost.StartAsync(world, model: Path.Combine(dir, "manifest.json"));
        var (app, http) = await StartGatewayAsync(world, new() { ["IngestFleet:Gateway:MaxEmbedInputs"] = "3" });
        await using var _ = app;
        using var __ = http;

        using (var noText = await http.PostAsJsonAsync("/v1/embed", new { model = "clip-tiny-r1", texts = new[] { "a chair" } }))
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, noText.StatusCode);
            Assert.Contains("no text tower", await noText.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        using (var tooMany = await http.PostAsJsonAsync("/v1/embed", new { model = "clip-tiny-r1", texts = new[] { "a", "b", "c", "d" } }))
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooMany.StatusCode);
        using (var noTenant = await http.PostAsJsonAsync("/v1/embed", new { model = "clip-tiny-r1", images = new[] { "https://example.com/a.jpg" } }))
        {
            Assert.Equal(HttpStatusCode.BadRequest, noTenant.StatusCode);
            Assert.Contains("tenant", await noTenant.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        using (var empty = await http.PostAsJsonAsync("/v1/embed", new { model = "clip-tiny-r1" }))
            Assert.Equal(HttpStatusCode.BadRequest, empty.StatusCode);
    }
}
