using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text.Json;
using System.Text.RegularExpressions;
using IngestFleet.Messaging;
using IngestFleet.Messaging.Broker;
using IngestFleet.Messaging.Limits;
using Microsoft.Extensions.Logging.Abstractions;
using YamlDotNet.Serialization;

namespace IngestFleet.Tests.Deploy;

/// <summary>The laptop stack in compose/: valid for docker-compose, every service health-checked, the fleet built from
/// the Dockerfiles, and a dashboard that only charts metrics the code emits.</summary>
public sealed partial class ComposeTests
{
    private static readonly string[] Services = ["rabbitmq-1", "rabbitmq-2", "rabbitmq-3", "minio", "minio-buckets", "gateway", "worker-1", "worker-2", "otel-collector", "jaeger", "prometheus", "grafana"];

    internal static string? DockerCompose => ComposeFactAttribute.DockerCompose;

    private static string ComposeDir => Path.Combine(TestPaths.RepositoryRoot, "compose");

    [ComposeFact]
    public void TheStack_IsValid_EveryServiceHasAHealthCheck_AndTheFleetIsBuiltFromTheDockerfiles()
    {
        var services = ComposeFactAttribute.RenderedServices();
        Assert.Equal(Services.Order(StringComparer.Ordinal), services.Keys.Cast<string>().Order(StringComparer.Ordinal));
        foreach (var (name, value) in services)
            Assert.True(((Dictionary<object, object>)value).ContainsKey("healthcheck"), $"{name} has no health check");
        string Dockerfile(string service) => (string)((Dictionary<object, object>)((Dictionary<object, object>)services[service])["build"])["dockerfile"];
        Assert.Equal("src/IngestFleet.GatewayHost/Dockerfile", Dockerfile("gateway"));
        foreach (var worker in new[] { "worker-1", "worker-2" })
        {
            Assert.Equal("src/IngestFleet.WorkerHost/Dockerfile", Dockerfile(worker));
            var w = (Dictionary<object, object>)services[worker];
            var env = (Dictionary<object, object>)w["environment"];
            Assert.StartsWith("http://", (string)env["IngestFleet__RabbitMq__ManagementUri"], StringComparison.Ordinal);
            Assert.Equal("http://otel-collector:4318", env["OTEL_EXPORTER_OTLP_ENDPOINT"]);
            var grace = (string)w["stop_grace_period"];
            Assert.True(int.Parse(grace.TrimEnd('s'), System.Globalization.CultureInfo.InvariantCulture) > IngestFleet.Worker.Hosting.WorkerHosting.DrainBudget.TotalSeconds, grace);
        }
        // Three broker nodes of one cluster (one image, one cookie, each named by its hostname in the peer list), and the
        // fleet given every node and every management URL.
        var cluster = File.ReadAllText(Path.Combine(ComposeDir, "rabbitmq", "cluster.conf"));
        var cookies = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in new[] { "rabbitmq-1", "rabbitmq-2", "rabbitmq-3" })
        {
            var svc = (Dictionary<object, object>)services[node];
            Assert.StartsWith("rabbitmq:4.", (string)svc["image"], StringComparison.Ordinal);
            Assert.Equal(node, svc["hostname"]);
            Assert.Contains($"= rabbit@{node}", cluster, StringComparison.Ordinal);
            cookies.Add((string)((Dictionary<object, object>)svc["environment"])["RABBITMQ_ERLANG_COOKIE"]);
        }
        Assert.Single(cookies);
        foreach (var fleetService in new[] { "gateway", "worker-1", "worker-2" })
        {
            var env = (Dictionary<object, object>)((Dictionary<object, object>)services[fleetService])["environment"];
            var o = new RabbitMqOptions
            {
                Uri = (string)env["IngestFleet__RabbitMq__Uri"], ClusterNodes = [(string)env["IngestFleet__RabbitMq__ClusterNodes__0"]],
                ManagementUri = (string)env["IngestFleet__RabbitMq__ManagementUri"], ManagementUris = [(string)env["IngestFleet__RabbitMq__ManagementUris__0"]],
            };
            Assert.Equal([("rabbitmq-1", 5672), ("rabbitmq-2", 5672), ("rabbitmq-3", 5672)], o.Nodes());
            Assert.Equal(["http://rabbitmq-1:15672", "http://rabbitmq-2:15672", "http://rabbitmq-3:15672"], o.ManagementUrls());
        }

        // Development credentials stay on this machine: every published port is bound to 127.0.0.1, and Prometheus
        // takes no lifecycle (shutdown/reload) calls.
        foreach (var (name, value) in services)
        {
            var svc = (Dictionary<object, object>)value;
            foreach (var port in svc.TryGetValue("ports", out var ports) ? (List<object>)ports : [])
            {
                // docker-compose 1.29 prints the long form (host_ip/published/target) or the short one.
                var hostIp = port is Dictionary<object, object> longForm ? longForm.TryGetValue("host_ip", out var ip) ? (string)ip : "" : ((string)port).Split(':')[0];
                Assert.True(hostIp == "127.0.0.1", $"{name} publishes {System.Text.Json.JsonSerializer.Serialize(port)} beyond 127.0.0.1");
            }
            var command = svc.TryGetValue("command", out var c) ? c is List<object> list ? string.Join(' ', list) : (string)c : "";
            Assert.DoesNotContain("--web.enable-lifecycle", command, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void TheDashboard_ChartsOnlyMetricsTheCodeEmits_AndEveryOneTheOperatorNeeds()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(ComposeDir, "grafana", "dashboards", "ingestfleet.json")));
        var expressions = doc.RootElement.GetProperty("panels").EnumerateArray()
            .SelectMany(p => p.GetProperty("targets").EnumerateArray().Select(t => t.GetProperty("expr").GetString()!)).ToList();
        var used = expressions.Select(e => Grouping().Replace(e, "")).SelectMany(e => MetricName().Matches(e).Select(m => m.Value)).ToHashSet(StringComparer.Ordinal);
        var emitted = EmittedPrometheusNames();
        var unknown = used.Where(u => !emitted.Contains(u)).ToList();
        Assert.True(unknown.Count == 0, $"the dashboard charts metrics the code does not emit: {string.Join(", ", unknown)}");
        foreach (var needed in new[]
                 {
                     "ingestfleet_images_embedded_total", "ingestfleet_queue_depth", "ingestfleet_queue_estimated_wait_seconds", "ingestfleet_shed_items_total",
                     "ingestfleet_images_dead_lettered_total", "gen_ai_client_operation_duration_seconds_bucket", "ingestfleet_process_peak_rss_bytes",
                     "ingestfleet_model_unexplained_fallback_nodes",
                 })
            Assert.Contains(needed, used);
    }

    /// <summary>Every instrument on the fleet's meter, under the names the collector's Prometheus exporter gives them
    /// (dots to underscores, unit suffix for s and By, _total on counters, _bucket/_sum/_count on histograms).</summary>
    private static HashSet<string> EmittedPrometheusNames()
    {
        foreach (var t in new[] { typeof(IngestFleet.Worker.Telemetry.WorkerTelemetry), typeof(IngestFleet.Gateway.GatewayMetrics), typeof(IngestFleet.Messaging.Telemetry.MessagingMetrics) })
            System.Runtime.CompilerServices.RuntimeHelpers.RunClassConstructor(t.TypeHandle);
        var rabbit = new RabbitMqOptions();
        var link = new BrokerLink(rabbit, "test");
        using var monitor = new QueueMonitor(link, rabbit, new FleetOptions(), new LimitsOptions(), TimeProvider.System, NullLogger<QueueMonitor>.Instance);
        var names = new HashSet<string>(StringComparer.Ordinal);
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, _) =>
        {
            if (instrument.Meter.Name != "IngestFleet") return;
            var name = instrument.Name.Replace('.', '_') + instrument.Unit switch { "s" => "_seconds", "By" => "_bytes", _ => "" };
            var kind = instrument.GetType().Name;
            if (kind.StartsWith("Counter", StringComparison.Ordinal)) names.Add(name + "_total");
            else if (kind.StartsWith("Histogram", StringComparison.Ordinal)) names.UnionWith([name + "_bucket", name + "_sum", name + "_count"]);
            else names.Add(name);
        };
        listener.Start();
        link.DisposeAsync().AsTask().GetAwaiter().GetResult();
        return names;
    }

    [GeneratedRegex(@"\b(?:ingestfleet|gen_ai)_[a-z0-9_]+")]
    private static partial Regex MetricName();

    /// <summary>PromQL grouping clauses, whose label names look like metric names.</summary>
    [GeneratedRegex(@"\b(?:by|without)\s*\([^)]*\)")]
    private static partial Regex Grouping();
}
