using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace IngestFleet.Tests.Cli;

/// <summary>The real OTLP exporter, configured only by OTEL_* variables, delivers batch spans and metrics.</summary>
public sealed class OtlpExportTests
{
    [Fact]
    public async Task Ingest_ExportsBatchSpansAndMetricsOverOtlp_ToTheEndpointNamedByOtelVariables()
    {
        var port = TestPorts.Free();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        var received = new ConcurrentBag<(string Path, byte[] Body)>();
        var loop = Task.Run(async () =>
        {
            while (listener.IsListening)
            {
                HttpListenerContext ctx;
                try { ctx = await listener.GetContextAsync(); }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException) { return; }
                using var body = new MemoryStream();
                await ctx.Request.InputStream.CopyToAsync(body);
                received.Add((ctx.Request.Url!.AbsolutePath, body.ToArray()));
                ctx.Response.StatusCode = 200;
                ctx.Response.ContentType = "application/x-protobuf";
                ctx.Response.Close();
            }
        });

        var outDir = Directory.CreateTempSubdirectory("ingestfleet-otlp-").FullName;
        var r = CliRunner.RunWith(new Dictionary<string, string>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = $"http://127.0.0.1:{port}",
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_SERVICE_NAME"] = "otlp-test",
        }, "ingest", Path.Combine(TestPaths.Data, "sample-catalog.jsonl"), "--out", outDir);
        listener.Stop();
        await loop;
        Assert.True(r.ExitCode == 2, r.Stderr + r.Stdout); // the sample catalog's hostile files are rejected, as documented

        string Text(string path) => string.Join("\n", received.Where(x => x.Path == path).Select(x => Encoding.UTF8.GetString(x.Body)));
        var traces = Text("/v1/traces");
        Assert.Contains("embeddings clip-tiny-r1", traces);
        Assert.Contains("gen_ai.embeddings.dimension.count", traces);
        Assert.Contains("ingestfleet.peak_rss_bytes", traces);
        Assert.Contains("otlp-test", traces);
        var metrics = Text("/v1/metrics");
        Assert.Contains("gen_ai.client.operation.duration", metrics);
        Assert.Contains("ingestfleet.images.rejected", metrics);
        Assert.Contains("not_an_image", metrics);
    }
}
