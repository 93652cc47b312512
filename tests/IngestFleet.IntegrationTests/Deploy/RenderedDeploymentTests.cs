using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using IngestFleet.Faults;
using IngestFleet.Gateway.Security;
using IngestFleet.Storage.S3;
using IngestFleet.Tests;
using IngestFleet.Tests.Deploy;
using k8s;
using k8s.Models;
using YamlDotNet.Serialization;

namespace IngestFleet.IntegrationTests.Deploy;

/// <summary>
/// Run what you render: the chart (default values and ci/cuda-values.yaml) and the compose file are rendered by helm and
/// docker-compose, and every gateway and worker container they define is started from its image (the Dockerfile's build
/// stage run here, <see cref="BuiltImage"/>) with exactly the rendered environment, Secrets and mounts
/// (<see cref="ContainerLauncher"/> names the substitutions). Jobs then go through the rendered gateway with the rendered
/// key, to vectors in S3, on every rendered worker pool. The CUDA values run their CUDA image's publish with the
/// execution provider forced to cpu: this machine has no GPU (the one override, named where it is made).
/// </summary>
/// <summary>The images are linux/amd64 (the build stage runs here with TARGETARCH=amd64): their binaries run on a Linux
/// x64 machine only, as in CI; elsewhere these tests are reported as skipped.</summary>
public sealed class LinuxX64FactAttribute : FactAttribute
{
    public bool NeedsHelm { get; }
    public bool NeedsCompose { get; }

    public LinuxX64FactAttribute(bool needsHelm = false, bool needsCompose = false)
    {
        (NeedsHelm, NeedsCompose) = (needsHelm, needsCompose);
        if (!OperatingSystem.IsLinux() || System.Runtime.InteropServices.RuntimeInformation.OSArchitecture != System.Runtime.InteropServices.Architecture.X64)
            Skip = "the images' linux-x64 binaries run only on Linux x64";
        else if (needsHelm && Helm.Path is null) Skip = "helm not found: set INGESTFLEET_HELM or put helm on PATH (tests/run.sh installs Helm 3.17)";
        else if (needsCompose && ComposeFactAttribute.DockerCompose is null) Skip = "docker-compose not found (tests/run.sh installs Debian's docker-compose)";
    }
}

[Collection(FleetTests.Name)]
public sealed class RenderedDeploymentTests(FleetFixture fixture)
{
    private static readonly string Photo = Path.Combine(AppContext.BaseDirectory, "data", "photos", "astronaut.jpg");

    [LinuxX64Fact(needsHelm: true)]
    public Task Chart_DefaultValues_StartAsRendered_AndEveryPoolEmbedsJobsFromTheRenderedGateway() => RunChartAsync([]);

    [LinuxX64Fact(needsHelm: true)]
    public Task Chart_CudaValues_StartAsRendered_WithTheExecutionProviderForcedToCpu() => RunChartAsync(["-f", "charts/ingestfleet/ci/cuda-values.yaml"]);

    /// <summary>Issue 24: the node list and TLS as the chart renders them (ci/cluster-tls-values.yaml), run against a
    /// TLS-only RabbitMQ node with certificates made by the test (<see cref="Broker.TlsBroker"/>): each of the three node
    /// names, the management URLs and the service name map to it. The pods read the CA and client certificate from the
    /// mounted Secret, as rendered.</summary>
    [LinuxX64Fact(needsHelm: true)]
    public async Task Chart_ClusterTlsValues_StartAsRendered_OverAmqpsWithTheMountedCertificates()
    {
        var tls = new Broker.TlsBroker();
        await tls.InitializeAsync();
        try
        {
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            for (var i = 0; i < 3; i++)
            {
                map[$"https://rabbitmq-server-{i}.rabbitmq-nodes.rabbitmq:15671"] = Broker.TlsBroker.ManagementUri;
                map[$"rabbitmq-server-{i}.rabbitmq-nodes.rabbitmq:5671"] = "localhost:5691";
            }
            map["https://rabbitmq.rabbitmq.svc:15671"] = Broker.TlsBroker.ManagementUri;
            map["rabbitmq.rabbitmq.svc:5671"] = "localhost:5691";
            map["rabbitmq.rabbitmq.svc"] = "localhost"; // the server name every node's certificate carries
            await RunChartAsync(["-f", "charts/ingestfleet/ci/cluster-tls-values.yaml"], new RenderedBroker(
                "amqps://guest:guest@rabbitmq.rabbitmq.svc:5671/", "https://rabbitmq.rabbitmq.svc:15671", map, new()
                {
                    [("ingestfleet-broker-tls", "ca.crt")] = await File.ReadAllTextAsync(tls.CaFile),
                    [("ingestfleet-broker-tls", "tls.crt")] = await File.ReadAllTextAsync(tls.ClientCertificateFile),
                    [("ingestfleet-broker-tls", "tls.key")] = await File.ReadAllTextAsync(tls.ClientKeyFile),
                }));
        }
        finally
        {
            await tls.DisposeAsync();
        }
    }

    /// <summary>A broker other than a vhost of the shared one: its Secret's values as an operator would write them, the
    /// names to map to this machine, and more Secrets.</summary>
    private sealed record RenderedBroker(string Uri, string ManagementUri, Dictionary<string, string> HostMap, Dictionary<(string, string), string> Secrets);

    private async Task RunChartAsync(string[] values, RenderedBroker? other = null)
    {
        var tenant = "rt" + Guid.NewGuid().ToString("N")[..8];
        // The one value the chart requires on top of the defaults: this test tenant's s3:// allow-list.
        string[] allowList = ["--set-json", $$"""worker.sourcePolicy.s3Sources={"{{tenant}}":["catalog/{{tenant}}/*"]}"""];
        var (code, output) = Helm.Run(["template", "fleet", "charts/ingestfleet", .. values, .. allowList]);
        Assert.True(code == 0, output);
        var docs = output.Split("\n---", StringSplitOptions.RemoveEmptyEntries);
        string? Kind(string doc) => doc.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("kind: ", StringComparison.Ordinal))?[6..];
        var settings = KubernetesYaml.Deserialize<V1ConfigMap>(docs.Single(d => Kind(d) == "ConfigMap"));
        var deployments = docs.Where(d => Kind(d) == "Deployment").Select(d => KubernetesYaml.Deserialize<V1Deployment>(d)).ToList();

        await using var broker = other is null ? await BrokerVhost.CreateAsync(fixture) : null;
        var key = "ifk_" + Guid.NewGuid().ToString("N");
        // The Secrets an operator creates (NOTES.txt), with this machine's endpoints and test credentials.
        var secrets = new Dictionary<(string, string), string>
        {
            [("ingestfleet-broker", "uri")] = other?.Uri ?? broker!.Uri,
            [("ingestfleet-broker", "managementUri")] = other?.ManagementUri ?? broker!.ManagementUri,
            [("ingestfleet-s3", "accessKey")] = fixture.S3AccessKey,
            [("ingestfleet-s3", "secretKey")] = fixture.S3SecretKey,
            [("ingestfleet-gateway-keys", "keys.json")] = $$"""[{"name":"render-test","sha256":"{{ApiKeyRegistry.Hash(key)}}","tenants":["{{tenant}}"]}]""",
        };

        var bucket = settings.Data["IngestFleet__S3__Bucket"];
        using var store = Store(fixture.S3Endpoint, bucket, fixture.S3AccessKey, fixture.S3SecretKey);
        await store.ProbeAsync(CancellationToken.None); // the bucket exists before the fleet starts (the chart does not create it)
        await using var launcher = new ContainerLauncher();
        var s3 = new Uri(fixture.S3Endpoint);
        launcher.HostMap["http://minio.storage:9000"] = fixture.S3Endpoint;
        launcher.HostMap["http://otel-collector.observability:4318"] = "http://127.0.0.1:9"; // no collector here: exports fail quietly
        foreach (var (from, to) in other?.HostMap ?? []) launcher.HostMap[from] = to;
        foreach (var (secret, value) in other?.Secrets ?? []) secrets[secret] = value;
        if (!settings.Data.ContainsKey("IngestFleet__S3__ServiceUrl"))
        {
            // Default values target AWS S3 with the SDK's default credential chain (an instance role or IRSA): here the
            // platform's S3 is the local server and its credentials come from the standard AWS variables.
            launcher.PlatformEnv["IngestFleet__S3__ServiceUrl"] = fixture.S3Endpoint;
            launcher.PlatformEnv["AWS_ACCESS_KEY_ID"] = fixture.S3AccessKey;
            launcher.PlatformEnv["AWS_SECRET_ACCESS_KEY"] = fixture.S3SecretKey;
        }
        launcher.PlatformEnv["IngestFleet__S3__ListObjectsVersion"] = "1"; // s3rver's ListObjectsV2 fails past 1,000 keys (not MinIO's or AWS's)

        var started = new List<(StartedContainer Started, string Role, int Port)>();
        foreach (var d in deployments)
        {
            var pod = d.Spec.Template.Spec;
            var c = Assert.Single(pod.Containers);
            var env = new List<KeyValuePair<string, string>>();
            foreach (var from in c.EnvFrom ?? Array.Empty<V1EnvFromSource>())
            {
                Assert.Equal(settings.Metadata.Name, from.ConfigMapRef.Name);
                env.AddRange(settings.Data);
            }
            foreach (var e in c.Env ?? Array.Empty<V1EnvVar>())
                env.Add(new(e.Name, e.Value ?? secrets[(e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)]));
            var mounts = (c.VolumeMounts ?? Array.Empty<V1VolumeMount>()).Select(m =>
            {
                var v = pod.Volumes.Single(v => v.Name == m.Name);
                return v.Secret is { } secret
                    ? new RenderedMount(m.MountPath, secrets.Where(s => s.Key.Item1 == secret.SecretName).ToDictionary(s => s.Key.Item2, s => s.Value))
                    : new RenderedMount(m.MountPath);
            }).ToList();
            var role = d.Metadata.Labels["app.kubernetes.io/component"];
            var image = c.Image.Contains("worker-cuda", StringComparison.Ordinal) ? "worker-cuda" : role;
            if (image == "worker-cuda")
                env.Add(new("IngestFleet__Embedder__ExecutionProvider", "cpu")); // no GPU on this machine: the one override
            var container = new RenderedContainer(d.Metadata.Name, image, env, mounts, pod.SecurityContext?.RunAsUser,
                c.SecurityContext?.RunAsNonRoot ?? pod.SecurityContext?.RunAsNonRoot ?? false, c.SecurityContext?.ReadOnlyRootFilesystem ?? false);
            var port = c.Ports.Single().ContainerPort;
            started.Add((launcher.Start(container, BuiltImage.Load(image), port), role, port));
        }
        await PushThroughGatewayAsync(started, store, key, tenant, $"{tenant}/astronaut.jpg", bucket, fixture.S3Endpoint, fixture.S3AccessKey, fixture.S3SecretKey);
    }

    [LinuxX64Fact(needsCompose: true)]
    public async Task Compose_GatewayAndWorkers_StartAsRendered_AndTheDevKeysJobsBecomeVectors()
    {
        var services = ComposeFactAttribute.RenderedServices();
        Dictionary<string, string> Env(string service) =>
            ((Dictionary<object, object>)((Dictionary<object, object>)services[service])["environment"]).ToDictionary(kv => (string)kv.Key, kv => (string)kv.Value);

        // MinIO as compose renders it (root user and password, the buckets minio-buckets creates): a private s3rver
        // that accepts exactly those credentials, on the compose broker's vhost "/" of the local RabbitMQ.
        var minio = Env("minio");
        var bucketsCommand = string.Join(" ", (List<object>)((Dictionary<object, object>)services["minio-buckets"])["command"]);
        var buckets = System.Text.RegularExpressions.Regex.Matches(bucketsCommand, @"mc mb --ignore-existing local/([a-z0-9.-]+)").Select(m => m.Groups[1].Value).ToList();
        Assert.Contains("ingestfleet", buckets);
        var s3rverBin = Environment.GetEnvironmentVariable("INGESTFLEET_TEST_S3RVER");
        Assert.False(string.IsNullOrEmpty(s3rverBin), "INGESTFLEET_TEST_S3RVER (set by .ci/services.sh) is needed to stand in for MinIO");
        await using var s3 = await S3rverProcess.StartAsync(s3rverBin!, new Dictionary<string, string> { [minio["MINIO_ROOT_USER"]] = minio["MINIO_ROOT_PASSWORD"] }, buckets);

        var gatewayEnv = Env("gateway");
        var amqp = new Uri(gatewayEnv["IngestFleet__RabbitMq__Uri"]);
        Assert.Equal("/", amqp.AbsolutePath);
        // The compose broker → a fresh vhost of the local RabbitMQ (its queues are the rendered ones, ingestfleet-*, and
        // touch nobody else's); its management API → the local one.
        await using var broker = await BrokerVhost.CreateAsync(fixture);
        await using var launcher = new ContainerLauncher();
        var local = new Uri(fixture.RabbitUri);
        var management = new Uri(fixture.ManagementUri);
        // The compose cluster's three nodes → the local broker (the URI, which names the vhost, first).
        launcher.HostMap["rabbitmq-1:5672/"] = $"{local.Host}:{local.Port}/{broker.Name}";
        for (var node = 1; node <= 3; node++)
        {
            launcher.HostMap[$"rabbitmq-{node}:5672"] = $"{local.Host}:{local.Port}";
            launcher.HostMap[$"rabbitmq-{node}:15672"] = management.Authority;
        }
        launcher.HostMap["http://minio:9000"] = s3.Endpoint;
        launcher.HostMap["http://otel-collector:4318"] = "http://127.0.0.1:9";
        launcher.PlatformEnv["IngestFleet__S3__ListObjectsVersion"] = "1";

        var started = new List<(StartedContainer Started, string Role, int Port)>();
        foreach (var name in new[] { "gateway", "worker-1", "worker-2" })
        {
            var svc = (Dictionary<object, object>)services[name];
            var dockerfile = (string)((Dictionary<object, object>)svc["build"])["dockerfile"];
            var image = dockerfile.EndsWith("GatewayHost/Dockerfile", StringComparison.Ordinal) ? "gateway" : "worker";
            var env = Env(name);
            var port = image == "gateway" ? 8080 : int.Parse(env["IngestFleet__Health__Port"], System.Globalization.CultureInfo.InvariantCulture);
            var container = new RenderedContainer(name, image, [.. env], []);
            started.Add((launcher.Start(container, BuiltImage.Load(image), port), image == "gateway" ? "gateway" : "worker", port));
        }
        // The development key whose SHA-256 compose renders (compose/README.md names it).
        var key = "dev-key-change-me";
        Assert.Equal(ApiKeyRegistry.Hash(key), gatewayEnv["IngestFleet__Gateway__Auth__Keys__0__Sha256"]);
        using var store = Store(s3.Endpoint, "ingestfleet", minio["MINIO_ROOT_USER"], minio["MINIO_ROOT_PASSWORD"]);
        // The tenant and image folder of compose's allow-list example and of compose/README.md's sample catalog.
        var allowed = Env("worker-1")["IngestFleet__SourcePolicy__S3Sources__demo__0"];
        Assert.Equal("catalog/photos/*", allowed);
        await PushThroughGatewayAsync(started, store, key, "demo", "photos/astronaut.jpg", "ingestfleet", s3.Endpoint, minio["MINIO_ROOT_USER"], minio["MINIO_ROOT_PASSWORD"]);
    }

    private static S3ObjectStore Store(string endpoint, string bucket, string access, string secret) =>
        new(new S3Options { ServiceUrl = endpoint, Bucket = bucket, AccessKey = access, SecretKey = secret, CreateBucket = true, ListObjectsVersion = 1 });

    /// <summary>Waits for every container's readiness probe, posts two jobs per consumed class with the key, and waits
    /// until each has a vector in the rendered bucket; one more job names an object off the tenant's rendered allow-list
    /// (the fleet's own vectors bucket) and must end as the one dead letter, source_forbidden.</summary>
    private static async Task PushThroughGatewayAsync(List<(StartedContainer Started, string Role, int Port)> started, S3ObjectStore store,
        string key, string tenant, string imageKey, string bucket, string endpoint, string access, string secret)
    {
        foreach (var (s, _, port) in started)
            await ContainerLauncher.WaitReadyAsync(s, "/healthz/ready", port, TimeSpan.FromSeconds(180));

        // The catalog's images, in a bucket the workers' credentials reach.
        using var catalog = Store(endpoint, "catalog", access, secret);
        await catalog.ProbeAsync(CancellationToken.None);
        await catalog.PutAsync(imageKey, await File.ReadAllBytesAsync(Photo), "image/jpeg", CancellationToken.None);
        await store.PutAsync($"private/{tenant}/astronaut.jpg", await File.ReadAllBytesAsync(Photo), "image/jpeg", CancellationToken.None);
        var gateway = started.Single(s => s.Role == "gateway");
        var workers = started.Where(s => s.Role == "worker").Select(s => s.Started).ToList();
        Assert.NotEmpty(workers);
        // Every class some rendered worker consumes (a pool consumes one class; compose workers consume all).
        var classes = workers.SelectMany(w => w.Env.TryGetValue("IngestFleet__Fleet__Consume__0", out var c) ? [c] : (IEnumerable<string>)["online", "bulk"]).Distinct().ToList();
        var jobs = classes.SelectMany(c => Enumerable.Range(0, 2).Select(i => new
        {
            tenant, shard = c, item_id = $"{c}-{i}", image = $"s3://catalog/{imageKey}", priority = c,
        })).Append(new { tenant, shard = classes[0], item_id = "off-list", image = $"s3://{bucket}/private/{tenant}/astronaut.jpg", priority = classes[0] }).ToArray();

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{gateway.Started.Ports[gateway.Port]}") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var response = await http.PostAsJsonAsync("/v1/jobs", new { jobs });
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}\n{ContainerLauncher.Tail(gateway.Started.Log())}");

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(180);
        var want = jobs.Where(j => j.item_id != "off-list").Select(j => $"{j.shard}/{j.item_id}").ToHashSet();
        HashSet<string> have = [];
        while (DateTime.UtcNow < deadline)
        {
            have = (await VectorView.RowsAsync(store, $"{IngestFleet.Storage.StorageKeys.VectorsRoot}/{tenant}/")).Where(r => r.Tenant == tenant).Select(r => $"{r.Shard}/{r.ItemId}").ToHashSet();
            if (want.IsSubsetOf(have)) break;
            foreach (var w in workers) Assert.False(w.Process.HasExited, $"{w.Container.Name} exited {(w.Process.HasExited ? w.Process.ExitCode : 0)}:\n{ContainerLauncher.Tail(w.Log())}");
            await Task.Delay(1000);
        }
        Assert.True(want.IsSubsetOf(have), $"vectors for {have.Count} of {want.Count} jobs in s3://{bucket}/vectors/ ({string.Join(", ", want.Except(have))} missing)\n" +
            string.Join("\n", workers.Select(w => $"--- {w.Container.Name}\n{ContainerLauncher.Tail(w.Log())}")));
        var dead = new List<IngestFleet.Storage.DeadLetterRecord>();
        while (dead.Count == 0 && DateTime.UtcNow < deadline)
        {
            await foreach (var k in store.ListAsync($"{IngestFleet.Storage.StorageKeys.DeadLetterRoot}/{tenant}/", CancellationToken.None))
                dead.Add(IngestFleet.Storage.DeadLetterRecord.FromJson((await store.GetAsync(k, CancellationToken.None))!));
            if (dead.Count == 0) await Task.Delay(1000);
        }
        var forbidden = Assert.Single(dead);
        Assert.Equal(("off-list", IngestFleet.Contracts.ReasonCodes.SourceForbidden), (forbidden.Job.ItemId, forbidden.Reason));
    }
}

/// <summary>A fresh virtual host on the local broker with guest's permissions: the chart's broker Secret points at it,
/// so the rendered queue names (ingestfleet-online, …) are the chart's own and collide with nothing else.</summary>
internal sealed class BrokerVhost : IAsyncDisposable
{
    private readonly HttpClient _http;
    private readonly string _name;

    private BrokerVhost(HttpClient http, string name, string uri, string management) => (_http, _name, Uri, ManagementUri) = (http, name, uri, management);

    public string Name => _name;
    public string Uri { get; }
    public string ManagementUri { get; }

    public static async Task<BrokerVhost> CreateAsync(FleetFixture fixture)
    {
        var name = "rendered-" + Guid.NewGuid().ToString("N")[..8];
        var management = new System.Uri(fixture.ManagementUri);
#pragma warning disable CA2000 // owned by the returned BrokerVhost, which disposes it
        var http = new HttpClient { BaseAddress = new System.Uri($"{management.Scheme}://{management.Authority}") };
#pragma warning restore CA2000
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String("guest:guest"u8.ToArray()));
        (await http.PutAsync(new System.Uri($"/api/vhosts/{name}", UriKind.Relative), null)).EnsureSuccessStatusCode();
        (await http.PutAsJsonAsync($"/api/permissions/{name}/guest", new { configure = ".*", write = ".*", read = ".*" })).EnsureSuccessStatusCode();
        var amqp = new System.Uri(fixture.RabbitUri);
        return new BrokerVhost(http, name, $"amqp://guest:guest@{amqp.Host}:{amqp.Port}/{name}", $"http://guest:guest@{management.Authority}");
    }

    public async ValueTask DisposeAsync()
    {
        using var _ = await _http.DeleteAsync(new System.Uri($"/api/vhosts/{_name}", UriKind.Relative));
        _http.Dispose();
    }
}
