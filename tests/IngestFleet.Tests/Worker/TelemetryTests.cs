using System.Diagnostics;
using IngestFleet.Contracts;
using IngestFleet.Worker.Processing;
using IngestFleet.Worker.Hosting;
using IngestFleet.Worker.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace IngestFleet.Tests.Worker;

public sealed class TelemetryTests
{
    [Fact]
    public async Task EveryBatch_GetsAGenAiEmbeddingsSpan_WithEveryListedAttribute_AndTheCountersAndHistogramsMove()
    {
        var prefix = $"otel-{Guid.NewGuid():N}"[..14] + "-";
        var spans = new List<Activity>();
        var metrics = new List<Metric>();
        using var tracer = Sdk.CreateTracerProviderBuilder().AddSource(WorkerTelemetry.Name).AddInMemoryExporter(spans).Build();
        using var meter = Sdk.CreateMeterProviderBuilder().AddMeter(WorkerTelemetry.Name).AddInMemoryExporter(metrics).Build();

        var store = Directory.CreateTempSubdirectory("ingestfleet-otel-").FullName;
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["IngestFleet:Fleet:QueuePrefix"] = prefix,
            ["IngestFleet:Embedder:ExecutionProvider"] = "cpu",
            ["IngestFleet:Embedder:IntraOpThreads"] = "2",
            ["IngestFleet:Embedder:InterOpThreads"] = "1",
        });
        builder.AddIngestFleetWorker(FleetTransport.InMemory, TestPaths.Clip, store);
        using var host = builder.Build();
        var processor = host.Services.GetRequiredService<BatchProcessor>();

        var enqueued = DateTimeOffset.UtcNow.AddSeconds(-2);
        var files = TestPaths.SamplePhotos.Take(3).Select(f => Path.Combine(TestPaths.Photos, f))
            .Append(Path.Combine(TestPaths.Hostile, "pdf-document.jpg")).ToArray();
        var jobs = files.Select((f, i) => new EmbedCatalogImage
        {
            Tenant = "otel", Shard = "s", ItemId = $"i{i}", Image = new Uri(f).AbsoluteUri, Priority = "bulk", EnqueuedAt = enqueued,
        }).ToArray();
        var report = await processor.ProcessAsync(jobs, "bulk", CancellationToken.None);
        Assert.Equal((3, 1), (report.Embedded, report.DeadLettered));
        tracer.ForceFlush();
        meter.ForceFlush();

        var span = Assert.Single(spans, s => (string?)s.GetTagItem("messaging.destination.name") == prefix + "bulk");
        Assert.Equal("embeddings clip-tiny-r1", span.DisplayName);
        Assert.Equal("embeddings", span.GetTagItem("gen_ai.operation.name"));
        Assert.Equal("onnxruntime", span.GetTagItem("gen_ai.provider.name"));
        Assert.Equal("clip-tiny-r1", span.GetTagItem("gen_ai.request.model"));
        Assert.Equal(512, span.GetTagItem("gen_ai.embeddings.dimension.count"));
        Assert.Equal(4, span.GetTagItem("ingestfleet.batch.size"));
        Assert.Equal(4, span.GetTagItem("messaging.batch.message_count"));
        Assert.Equal(2, span.GetTagItem("ingestfleet.threads.intra_op"));
        Assert.Equal(1, span.GetTagItem("ingestfleet.threads.inter_op"));
        Assert.Equal("cpu", span.GetTagItem("ingestfleet.execution_provider"));
        Assert.Equal("cpu", span.GetTagItem("ingestfleet.device"));
        Assert.Equal(0, span.GetTagItem("ingestfleet.fallback_nodes"));
        var wait = (double)span.GetTagItem("ingestfleet.queue.wait.max_s")!;
        Assert.InRange(wait, 2.0, 60);
        Assert.True((double)span.GetTagItem("ingestfleet.preprocess.duration_s")! > 0);
        Assert.True((double)span.GetTagItem("ingestfleet.inference.duration_s")! > 0);
        var peak = (long)span.GetTagItem("ingestfleet.peak_rss_bytes")!;
        Assert.InRange(peak, 20L << 20, 64L << 30);
        Assert.True(peak >= (long)span.GetTagItem("ingestfleet.peak_rss.inference_bytes")!);
        Assert.True(peak >= (long)span.GetTagItem("ingestfleet.peak_rss.decode_bytes")!);
        Assert.Equal(3, span.GetTagItem("ingestfleet.embedded"));
        Assert.Equal(1, span.GetTagItem("ingestfleet.dead_lettered"));
        Assert.Equal("not_an_image", span.GetTagItem("ingestfleet.rejected.reasons"));

        long Sum(string name, Func<MetricPoint, bool>? where = null)
        {
            long total = 0;
            foreach (var m in metrics.Where(m => m.Name == name))
                foreach (ref readonly var p in m.GetMetricPoints())
                    if (where is null || where(p)) total += m.MetricType == MetricType.Histogram ? p.GetHistogramCount() : p.GetSumLong();
            return total;
        }
        static object? Tag(MetricPoint p, string key)
        {
            foreach (var t in p.Tags) if (t.Key == key) return t.Value;
            return null;
        }
        Assert.True(Sum("ingestfleet.images.embedded") >= 3);
        Assert.True(Sum("ingestfleet.images.rejected", p => (string?)Tag(p, "error.type") == "not_an_image") >= 1);
        Assert.True(Sum("ingestfleet.images.dead_lettered") >= 1);
        Assert.True(Sum("ingestfleet.queue.wait", p => (string?)Tag(p, "messaging.destination.name") == prefix + "bulk") == 4);
        Assert.True(Sum("gen_ai.client.operation.duration") >= 1);
        var duration = metrics.First(m => m.Name == "gen_ai.client.operation.duration");
        Assert.Equal("s", duration.Unit);
        foreach (ref readonly var p in duration.GetMetricPoints())
        {
            var bounds = new List<double>();
            foreach (var b in p.GetHistogramBuckets()) if (!double.IsPositiveInfinity(b.ExplicitBound)) bounds.Add(b.ExplicitBound);
            Assert.Equal(WorkerTelemetry.GenAiDurationBuckets, bounds);
        }
    }


    /// <summary>A recorded 700 MiB batch peak lands in a finite bucket of the exported histogram (the SDK takes the
    /// instrument's bucket advice); with OpenTelemetry's default bounds (up to 10,000) it landed in +Inf.</summary>
    [Fact]
    public void ABatchPeakOf700MiB_LandsInAFiniteBucket()
    {
        var metrics = new List<Metric>();
        using (var meter = Sdk.CreateMeterProviderBuilder().AddMeter(WorkerTelemetry.Name).AddInMemoryExporter(metrics).Build())
        {
            var marker = Guid.NewGuid().ToString("N");
            WorkerTelemetry.BatchPeakRss.Record(700L * 1024 * 1024, new KeyValuePair<string, object?>("test.marker", marker));
            meter.ForceFlush();
            var metric = metrics.Last(m => m.Name == "ingestfleet.batch.peak_rss");
            MetricPoint? point = null;
            foreach (ref readonly var p in metric.GetMetricPoints())
                foreach (var tag in p.Tags)
                    if (tag.Key == "test.marker" && (string?)tag.Value == marker) point = p;
            Assert.NotNull(point);
            double? bound = null;
            foreach (var bucket in point.Value.GetHistogramBuckets())
                if (bucket.BucketCount > 0) bound = bucket.ExplicitBound;
            Assert.Equal(1024.0 * 1024 * 1024, bound); // the (512 MiB, 1 GiB] bucket, not +Inf
        }
    }
}
