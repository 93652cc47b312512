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
using RabbitMQ.Client;

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
        // A query writes nothing: no vector part and no dead letter in the bucket (the missing image included).
        foreach (var written in new[] { IngestFleet.Storage.StorageKeys.VectorsRoot, IngestFleet.Storage.StorageKeys.DeadLetterRoot })
            await foreach (var key in world.Store.ListAsync(written + "/", CancellationToken.None))
                Assert.Fail($"a query wrote {key}");
    }

    /// <summary>
    /// 503 at once where no worker serves the revision: no query queue (a bulk-only worker does not declare one: queries
    /// are served in the most urgent class), or a queue nobody consumes (its workers are gone). A consumer that does not
    /// answer (a stuck worker) is a 504 at the deadline; a full query queue is a 429 at once.
    /// </summary>
    [Fact]
    public async Task NoWorker_Is503_AStuckWorker_Is504_AFullQueue_Is429()
    {
        using var world = await fixture.NewWorldAsync();
        var queue = $"{world.QueuePrefix}query-clip-tiny-r1";
        var (app, http) = await StartGatewayAsync(world, new() { ["IngestFleet:Fleet:QueryQueueMaxLength"] = "1" });
        await using var _ = app;
        using var __ = http;
        var factory = new RabbitMQ.Client.ConnectionFactory { Uri = new Uri(world.Fixture.RabbitUri) };
        await using var connection = await factory.CreateConnectionAsync();

        using (var none = await http.PostAsJsonAsync("/v1/embed", new { model = "nobody-r9", texts = new[] { "x" } }))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, none.StatusCode);
            Assert.Contains("nobody-r9", await none.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            Assert.True(none.Headers.RetryAfter is not null);
        }

        // A bulk-only worker: its query server decides before its host has started that it answers nothing.
        await using (await WorkerHost.StartAsync(world, extra: new() { ["IngestFleet:Fleet:Consume:0"] = "bulk" }))
            Assert.False(await QueueExistsAsync(connection, queue));

        // A worker declares the queue (capped at one waiting query) and stops: the queue stays, with no consumer.
        await using (await WorkerHost.StartAsync(world, extra: new() { ["IngestFleet:Fleet:QueryQueueMaxLength"] = "1" }))
            await QueueArgumentsAsync(world, queue);
        await Task.Delay(QueryClientCheckInterval); // the gateway's consumer count of the revision is read again
        using (var gone = await http.PostAsJsonAsync("/v1/embed", new { model = "clip-tiny-r1", texts = new[] { "x" } }))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, gone.StatusCode);
            Assert.Contains("consuming", await gone.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // A stuck worker: it takes one query and never answers.
        await using var stuck = await connection.CreateChannelAsync();
        await stuck.BasicQosAsync(0, 1, false);
        await stuck.BasicConsumeAsync(queue, autoAck: false, new RabbitMQ.Client.Events.AsyncEventingBasicConsumer(stuck));
        await Task.Delay(QueryClientCheckInterval);
        using (var late = await http.PostAsJsonAsync("/v1/embed", new { model = "clip-tiny-r1", texts = new[] { "held" }, deadline_ms = 1_000 }))
            Assert.Equal(HttpStatusCode.GatewayTimeout, late.StatusCode);

        // Fill the queue past its cap (publishes confirmed until the broker refuses one), then a query is refused at once.
        await using (var filler = await connection.CreateChannelAsync(new RabbitMQ.Client.CreateChannelOptions(true, true)))
            for (var i = 0; i < 10; i++)
            {
                try { await filler.BasicPublishAsync("", queue, true, new RabbitMQ.Client.BasicProperties(), new byte[] { 1 }); }
                catch (RabbitMQ.Client.Exceptions.PublishException) { break; }
            }
        using (var full = await http.PostAsJsonAsync("/v1/embed", new { model = "clip-tiny-r1", texts = new[] { "third" }, deadline_ms = 5_000 }))
        {
            Assert.True(full.StatusCode == (HttpStatusCode)429, await full.Content.ReadAsStringAsync());
            Assert.True(full.Headers.RetryAfter is not null);
        }
    }

    private static readonly TimeSpan QueryClientCheckInterval = IngestFleet.Messaging.Queries.QueryClient.ConsumerCheckInterval + TimeSpan.FromMilliseconds(200);

    private static async Task<bool> QueueExistsAsync(RabbitMQ.Client.IConnection connection, string queue)
    {
        await using var channel = await connection.CreateChannelAsync();
        try
        {
            await channel.QueueDeclarePassiveAsync(queue);
            return true;
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
        {
            return false;
        }
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
