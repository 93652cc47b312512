using k8s;
using k8s.Models;
using IngestFleet.Worker.Hosting;
using YamlDotNet.Serialization;

namespace IngestFleet.Tests.Deploy;

/// <summary>The chart in charts/ingestfleet, linted and rendered by Helm with its values sets; the rendered objects are
/// read back with the KubernetesClient models (KEDA's ScaledObject, a custom resource, as plain YAML).</summary>
public sealed class HelmChartTests
{
    private const string Chart = "charts/ingestfleet";
    private const string CudaValues = "charts/ingestfleet/ci/cuda-values.yaml";
    private const string DefaultValues = "charts/ingestfleet/ci/default-values.yaml";
    private const string ClusterTlsValues = "charts/ingestfleet/ci/cluster-tls-values.yaml";
    private static readonly string[] Classes = ["online", "high", "normal", "bulk"];

    private sealed record Rendered(List<V1Deployment> Deployments, List<V1Service> Services, List<V1PodDisruptionBudget> Budgets,
        List<Dictionary<object, object>> ScaledObjects, List<V1ConfigMap> ConfigMaps, string Yaml);

    private static Rendered Render(params string[] extra)
    {
        var (code, output) = Helm.Run(["template", "fleet", Chart, "-f", DefaultValues, .. extra]);
        Assert.True(code == 0, output);
        var rendered = new Rendered([], [], [], [], [], output);
        var yaml = new DeserializerBuilder().Build();
        foreach (var doc in output.Split("\n---", StringSplitOptions.RemoveEmptyEntries))
        {
            var kind = doc.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("kind: ", StringComparison.Ordinal))?[6..];
            switch (kind)
            {
                case "Deployment": rendered.Deployments.Add(KubernetesYaml.Deserialize<V1Deployment>(doc)); break;
                case "Service": rendered.Services.Add(KubernetesYaml.Deserialize<V1Service>(doc)); break;
                case "PodDisruptionBudget": rendered.Budgets.Add(KubernetesYaml.Deserialize<V1PodDisruptionBudget>(doc)); break;
                case "ConfigMap": rendered.ConfigMaps.Add(KubernetesYaml.Deserialize<V1ConfigMap>(doc)); break;
                case "ScaledObject": rendered.ScaledObjects.Add(yaml.Deserialize<Dictionary<object, object>>(doc)); break;
            }
        }
        return rendered;
    }

    private static object At(Dictionary<object, object> node, params object[] path)
    {
        object current = node;
        foreach (var key in path)
            current = key is int i ? ((List<object>)current)[i] : ((Dictionary<object, object>)current)[key];
        return current;
    }

    [HelmFact]
    public void TheChartLints_WithEveryValuesSet()
    {
        var plain = Helm.Run("lint", Chart, "-f", DefaultValues);
        Assert.True(plain.ExitCode == 0, plain.Output);
        var cuda = Helm.Run("lint", Chart, "-f", CudaValues);
        Assert.True(cuda.ExitCode == 0, cuda.Output);
        var clusterTls = Helm.Run("lint", Chart, "-f", DefaultValues, "-f", ClusterTlsValues);
        Assert.True(clusterTls.ExitCode == 0, clusterTls.Output);
    }

    /// <summary>The chart refuses what the worker refuses (issue 21, point 1): no s3:// source allow-list and no opt-out.</summary>
    [HelmFact]
    public void WithoutASourceAllowList_TheChartFails_AndEachWayOutRendersItsSetting()
    {
        var bare = Helm.Run("template", "fleet", Chart);
        Assert.NotEqual(0, bare.ExitCode);
        Assert.Contains("worker.sourcePolicy: no s3:// source allow-list", bare.Output, StringComparison.Ordinal);
        Assert.Contains("worker.sourcePolicy.requireAllowList=false", bare.Output, StringComparison.Ordinal);

        Dictionary<string, string> Settings(params string[] values)
        {
            var (code, output) = Helm.Run(["template", "fleet", Chart, .. values]);
            Assert.True(code == 0, output);
            var map = output.Split("\n---").Single(d => d.Contains("kind: ConfigMap", StringComparison.Ordinal));
            return KubernetesYaml.Deserialize<V1ConfigMap>(map).Data.Where(kv => kv.Key.StartsWith("IngestFleet__SourcePolicy__", StringComparison.Ordinal))
                .ToDictionary(kv => kv.Key["IngestFleet__SourcePolicy__".Length..], kv => kv.Value);
        }
        Assert.Equal(new Dictionary<string, string>
        {
            ["S3Sources__acme__0"] = "catalog-images/acme/*", ["S3Sources__beta__0"] = "catalog-images/beta/*", ["S3Sources__beta__1"] = "beta-media/*",
        }, Settings("-f", DefaultValues));
        Assert.Equal(new Dictionary<string, string> { ["Enforce"] = "true" }, Settings("--set", "worker.sourcePolicy.enforce=true"));
        Assert.Equal(new Dictionary<string, string> { ["RequireAllowList"] = "false" }, Settings("--set", "worker.sourcePolicy.requireAllowList=false"));

        var badTenant = Helm.Run("template", "fleet", Chart, "--set-json", "worker.sourcePolicy.s3Sources={\"a b\":[\"x/*\"]}");
        Assert.NotEqual(0, badTenant.ExitCode);
        Assert.Contains("is not a tenant id", badTenant.Output, StringComparison.Ordinal);
    }

    /// <summary>Broker users and their tenants reach the worker as PublisherIdentity settings (issue 21, point 8); names the
    /// worker could not be given through the environment are refused.</summary>
    [HelmFact]
    public void PublisherIdentity_RendersEachUsersTenants_AndRefusesWhatItCannotPass()
    {
        Dictionary<string, string> Settings(params string[] values)
        {
            var (code, output) = Helm.Run(["template", "fleet", Chart, "-f", DefaultValues, .. values]);
            Assert.True(code == 0, output);
            var map = output.Split("\n---").Single(d => d.Contains("kind: ConfigMap", StringComparison.Ordinal));
            return KubernetesYaml.Deserialize<V1ConfigMap>(map).Data.Where(kv => kv.Key.StartsWith("IngestFleet__PublisherIdentity__", StringComparison.Ordinal))
                .ToDictionary(kv => kv.Key["IngestFleet__PublisherIdentity__".Length..], kv => kv.Value);
        }
        Assert.Empty(Settings()); // required by default, no producer users
        Assert.Equal(new Dictionary<string, string> { ["Tenants__acme-producer__0"] = "acme", ["Tenants__partner__0"] = "*" },
            Settings("--set-json", """worker.publisherIdentity.tenants={"acme-producer":["acme"],"partner":["*"]}"""));
        Assert.Equal(new Dictionary<string, string> { ["Required"] = "false" }, Settings("--set", "worker.publisherIdentity.required=false"));
        foreach (var bad in new[] { """{"a b":["acme"]}""", """{"a__b":["acme"]}""", """{"p":[]}""", """{"p":["a/b"]}""" })
        {
            var refused = Helm.Run("template", "fleet", Chart, "-f", DefaultValues, "--set-json", $"worker.publisherIdentity.tenants={bad}");
            Assert.NotEqual(0, refused.ExitCode);
            Assert.Contains("worker.publisherIdentity.tenants", refused.Output, StringComparison.Ordinal);
        }
    }

    [HelmFact]
    public void BatchesInFlight_ReachTheWorker_AndKedaCountsAtLeastThatManyBatchesPerReplica()
    {
        string Depth(params string[] args) => KubernetesYaml.Deserialize<V1ConfigMap>(
            Helm.Run(["template", "fleet", Chart, "-f", DefaultValues, "--show-only", "templates/configmap.yaml", .. args]).Output).Data["IngestFleet__Fleet__BatchesInFlight"];
        Assert.Equal("2", Depth());
        Assert.Equal("3", Depth("--set", "profile.batchesInFlight=3"));
        var refused = Helm.Run("template", "fleet", Chart, "-f", DefaultValues, "--set", "profile.batchesInFlight=4");
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("keda.queueLengthBatches (3) is below profile.batchesInFlight (4)", refused.Output, StringComparison.Ordinal);
    }

    [HelmFact]
    public void Defaults_OneCpuPoolPerClass_WithProbesGraceAndAScaledObjectEach()
    {
        var r = Render();
        var workers = r.Deployments.Where(d => d.Metadata.Labels["app.kubernetes.io/component"] == "worker").ToList();
        Assert.Equal(Classes.Select(c => $"fleet-worker-{c}"), workers.Select(d => d.Metadata.Name));
        foreach (var (d, cls) in workers.Zip(Classes))
        {
            var pod = d.Spec.Template.Spec;
            Assert.True(pod.TerminationGracePeriodSeconds > (long)WorkerHosting.DrainBudget.TotalSeconds, $"{d.Metadata.Name}: grace {pod.TerminationGracePeriodSeconds}");
            var c = Assert.Single(pod.Containers);
            Assert.Equal("/healthz/live", c.LivenessProbe.HttpGet.Path);
            Assert.Equal("/healthz/ready", c.ReadinessProbe.HttpGet.Path);
            Assert.EndsWith("ingestfleet-worker:0.1.0", c.Image, StringComparison.Ordinal);
            Assert.Contains(c.Env, e => e.Name == "IngestFleet__Fleet__Consume__0" && e.Value == cls);
            Assert.Contains(c.Env, e => e.Name == "IngestFleet__Embedder__ExecutionProvider" && e.Value == "cpu");
            Assert.Contains(c.Env, e => e.Name == "IngestFleet__RabbitMq__Uri" && e.ValueFrom.SecretKeyRef.Name == "ingestfleet-broker");
            Assert.Equal("2", c.Resources.Requests["cpu"].ToString());          // the profile's intra-op threads
            Assert.Equal("2000Mi", c.Resources.Requests["memory"].ToString());   // peak RSS 1600 MiB × 1.25
            Assert.False(c.Resources.Limits.ContainsKey("nvidia.com/gpu"));
        }
        Assert.Equal(5, r.Budgets.Count); // four pools and the gateway

        Assert.Equal(4, r.ScaledObjects.Count);
        foreach (var (so, cls) in r.ScaledObjects.Zip(Classes))
        {
            Assert.Equal($"fleet-worker-{cls}", At(so, "spec", "scaleTargetRef", "name"));
            Assert.Equal("rabbitmq", At(so, "spec", "triggers", 0, "type"));
            Assert.Equal("QueueLength", At(so, "spec", "triggers", 0, "metadata", "mode"));
            Assert.Equal("http", At(so, "spec", "triggers", 0, "metadata", "protocol"));
            Assert.Equal($"ingestfleet-{cls}", At(so, "spec", "triggers", 0, "metadata", "queueName"));
            Assert.Equal("48", At(so, "spec", "triggers", 0, "metadata", "value")); // batch 16 × 3 (two batches in flight and one ready)
            var min = int.Parse((string)At(so, "spec", "minReplicaCount"), System.Globalization.CultureInfo.InvariantCulture);
            if (cls == "online") Assert.True(min >= 1, "online must never scale to zero by default");
            else Assert.Equal(0, min);
        }

        var gateway = Assert.Single(r.Deployments, d => d.Metadata.Name == "fleet-gateway");
        Assert.Equal("/healthz/ready", gateway.Spec.Template.Spec.Containers[0].ReadinessProbe.HttpGet.Path);
        Assert.Equal("fleet-gateway", Assert.Single(r.Services).Metadata.Name);
        var settings = Assert.Single(r.ConfigMaps).Data;
        Assert.Equal("16", settings["IngestFleet__Fleet__BatchSize"]);
        Assert.Equal("2", settings["IngestFleet__Limits__Queues__bulk__ShedRank"]);
    }

    /// <summary>Issue 24: the cluster and TLS values reach every pod (node list, management URLs, the CA and client
    /// certificate files where the Secret is mounted, the server name, the replica count) and KEDA's scaler gets the same
    /// trust (tls, ca, cert, key from the Secrets). RenderedDeploymentTests runs these pods over amqps.</summary>
    [HelmFact]
    public void ClusterTlsValues_EveryPodGetsTheNodesAndTheCertificates_AndKedaTheSameTrust()
    {
        var r = Render("-f", ClusterTlsValues);
        var data = Assert.Single(r.ConfigMaps).Data;
        Assert.Equal("rabbitmq-server-0.rabbitmq-nodes.rabbitmq:5671", data["IngestFleet__RabbitMq__ClusterNodes__0"]);
        Assert.Equal("rabbitmq-server-2.rabbitmq-nodes.rabbitmq:5671", data["IngestFleet__RabbitMq__ClusterNodes__2"]);
        Assert.Equal("https://rabbitmq-server-2.rabbitmq-nodes.rabbitmq:15671", data["IngestFleet__RabbitMq__ManagementUris__1"]);
        Assert.Equal("3", data["IngestFleet__Fleet__QuorumInitialGroupSize"]);
        Assert.Equal("rabbitmq.rabbitmq.svc", data["IngestFleet__RabbitMq__Tls__ServerName"]);
        Assert.Equal("/etc/ingestfleet/broker-tls/ca.crt", data["IngestFleet__RabbitMq__Tls__CaFile"]);
        Assert.Equal("/etc/ingestfleet/broker-tls/tls.crt", data["IngestFleet__RabbitMq__Tls__ClientCertificateFile"]);
        Assert.Equal("/etc/ingestfleet/broker-tls/tls.key", data["IngestFleet__RabbitMq__Tls__ClientKeyFile"]);
        Assert.Equal(5, r.Deployments.Count); // four worker pools and the gateway: all connect to the broker
        foreach (var d in r.Deployments)
        {
            var pod = d.Spec.Template.Spec;
            var mount = Assert.Single(pod.Containers[0].VolumeMounts, m => m.MountPath == "/etc/ingestfleet/broker-tls");
            Assert.True(mount.ReadOnlyProperty);
            Assert.Equal("ingestfleet-broker-tls", Assert.Single(pod.Volumes, v => v.Name == mount.Name).Secret.SecretName);
        }
        var yaml = new DeserializerBuilder().Build();
        var docs = r.Yaml.Split("\n---", StringSplitOptions.RemoveEmptyEntries);
        var auth = yaml.Deserialize<Dictionary<object, object>>(docs.Single(d => d.Contains("kind: TriggerAuthentication", StringComparison.Ordinal)));
        var refs = ((List<object>)At(auth, "spec", "secretTargetRef")).Cast<Dictionary<object, object>>()
            .ToDictionary(x => (string)x["parameter"], x => ((string)x["name"], (string)x["key"]));
        Assert.Equal(("fleet-rabbitmq-tls", "tls"), refs["tls"]);
        Assert.Equal(("ingestfleet-broker-tls", "ca.crt"), refs["ca"]);
        Assert.Equal(("ingestfleet-broker-tls", "tls.crt"), refs["cert"]);
        Assert.Equal(("ingestfleet-broker-tls", "tls.key"), refs["key"]);
        var flag = yaml.Deserialize<Dictionary<object, object>>(docs.Single(d => d.Contains("kind: Secret", StringComparison.Ordinal) && d.Contains("name: fleet-rabbitmq-tls", StringComparison.Ordinal)));
        Assert.Equal("enable", At(flag, "stringData", "tls"));

        // Without TLS values nothing of it is rendered.
        var plain = Render();
        Assert.DoesNotContain(Assert.Single(plain.ConfigMaps).Data.Keys, k => k.Contains("Tls", StringComparison.Ordinal) || k.Contains("ClusterNodes", StringComparison.Ordinal));
        Assert.DoesNotContain("broker-tls", plain.Yaml, StringComparison.Ordinal);
    }

    [HelmFact]
    public void CudaValues_GpuImageAndLimits_OnlyTheEnabledPools_QueueLengthFromTheBatch()
    {
        var r = Render("-f", CudaValues);
        var workers = r.Deployments.Where(d => d.Metadata.Labels["app.kubernetes.io/component"] == "worker").ToList();
        Assert.Equal(["fleet-worker-online", "fleet-worker-bulk"], workers.Select(d => d.Metadata.Name));
        foreach (var d in workers)
        {
            var c = d.Spec.Template.Spec.Containers[0];
            Assert.EndsWith("ingestfleet-worker-cuda:0.1.0", c.Image, StringComparison.Ordinal);
            Assert.Equal("1", c.Resources.Limits["nvidia.com/gpu"].ToString());
            Assert.Contains(c.Env, e => e.Name == "IngestFleet__Embedder__ExecutionProvider" && e.Value == "cuda");
            Assert.Contains(c.Env, e => e.Name == "IngestFleet__S3__AccessKey" && e.ValueFrom.SecretKeyRef.Name == "ingestfleet-s3");
            Assert.Equal("true", d.Spec.Template.Spec.NodeSelector["nvidia.com/gpu.present"]);
        }
        Assert.Equal(["96", "96"], r.ScaledObjects.Select(so => (string)At(so, "spec", "triggers", 0, "metadata", "value"))); // batch 32 × 3
        Assert.Equal("2", At(r.ScaledObjects[0], "spec", "minReplicaCount"));
        Assert.Equal(3, Assert.Single(r.Deployments, d => d.Metadata.Name == "fleet-gateway").Spec.Replicas);
        Assert.Equal("http://otel-collector.observability:4318", Assert.Single(r.ConfigMaps).Data["OTEL_EXPORTER_OTLP_ENDPOINT"]);
    }

    /// <summary>Every rendered object against the Kubernetes API's JSON schemas (and KEDA's for its resources), with both
    /// values sets: .ci/lib/validate-k8s.mjs on the npm package kubernetes-models (Kubernetes 1.27's OpenAPI).</summary>
    [HelmSchemaFact]
    public void TheRenderedObjects_AreValidAgainstTheKubernetesSchemas()
    {
        var schemas = HelmSchemaFactAttribute.Schemas;
        foreach (var values in new[] { Array.Empty<string>(), ["-f", CudaValues], ["-f", ClusterTlsValues], ["--set", "worker.cpuLimit=4,broker.vhost=catalog"] })
        {
            var yaml = Render(values).Yaml;
            var psi = new System.Diagnostics.ProcessStartInfo("node", [Path.Combine(TestPaths.RepositoryRoot, ".ci", "lib", "validate-k8s.mjs"), schemas!])
            { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
            using var p = System.Diagnostics.Process.Start(psi)!;
            p.StandardInput.Write(yaml);
            p.StandardInput.Close();
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, $"values {string.Join(' ', values)}:\n{stdout.Result}{stderr}");
            Assert.Contains("ok Deployment/fleet-gateway", stdout.Result, StringComparison.Ordinal);
            Assert.Contains("ok ScaledObject/fleet-worker-online", stdout.Result, StringComparison.Ordinal);
        }
    }

    /// <summary>The "restricted" Pod Security Standard, rule by rule as https://kubernetes.io/docs/concepts/security/pod-security-standards/
    /// lists it (Baseline and Restricted sections: host namespaces, privileged, capabilities, volume types, privilege
    /// escalation, running as non-root, non-root user, seccomp), for every pod of both values sets; plus what the
    /// chart promises beyond it: a read-only root file system with an emptyDir for scratch, and a numeric user.</summary>
    [HelmFact]
    public void EveryPod_MeetsTheRestrictedPodSecurityStandard()
    {
        string[] allowedVolumes = ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"];
        foreach (var values in new[] { Array.Empty<string>(), ["-f", CudaValues] })
        {
            foreach (var d in Render(values).Deployments)
            {
                var pod = d.Spec.Template.Spec;
                var name = d.Metadata.Name;
                Assert.True(pod.HostNetwork != true && pod.HostPID != true && pod.HostIPC != true, $"{name}: host namespaces");
                foreach (var v in pod.Volumes ?? [])
                {
                    var types = typeof(V1Volume).GetProperties().Where(p => p.Name != nameof(V1Volume.Name) && p.GetValue(v) is not null)
                        .Select(p => char.ToLowerInvariant(p.Name[0]) + p.Name[1..]).ToList();
                    Assert.True(types.All(allowedVolumes.Contains), $"{name}: volume {v.Name} is {string.Join(",", types)}");
                }
                Assert.Equal("RuntimeDefault", pod.SecurityContext.SeccompProfile.Type);
                Assert.True(pod.SecurityContext.RunAsNonRoot, $"{name}: runAsNonRoot");
                Assert.True(pod.SecurityContext.RunAsUser > 0, $"{name}: runAsUser must be a numeric non-root user");
                foreach (var c in pod.Containers)
                {
                    var sc = c.SecurityContext;
                    Assert.NotNull(sc);
                    Assert.True(sc.Privileged != true, $"{name}: privileged");
                    Assert.False(sc.AllowPrivilegeEscalation ?? true, $"{name}: allowPrivilegeEscalation must be false");
                    Assert.Contains("ALL", sc.Capabilities.Drop);
                    Assert.True((sc.Capabilities.Add ?? []).All(a => a == "NET_BIND_SERVICE"), $"{name}: adds capabilities");
                    Assert.True(sc.RunAsUser is null or > 0, $"{name}: container runAsUser 0");
                    Assert.True(sc.ReadOnlyRootFilesystem, $"{name}: the root file system must be read-only");
                    Assert.All(c.Ports ?? [], p => Assert.Null(p.HostPort));
                    var tmp = Assert.Single(c.VolumeMounts, m => m.MountPath == "/tmp");
                    Assert.NotNull(Assert.Single(pod.Volumes ?? [], v => v.Name == tmp.Name).EmptyDir);
                    Assert.Contains(c.Env, e => e.Name == "TMPDIR" && e.Value == "/tmp");
                }
            }
            foreach (var b in Render(values).Budgets) Assert.Equal("AlwaysAllow", b.Spec.UnhealthyPodEvictionPolicy);
        }
    }

    [HelmFact]
    public void OnlyWorkersGetS3Credentials_DecodeParallelismAndCpuComeFromValues_KedaUsesTheBrokersVhost()
    {
        var cuda = Render("-f", CudaValues);
        var gateway = Assert.Single(cuda.Deployments, d => d.Metadata.Name == "fleet-gateway").Spec.Template.Spec.Containers[0];
        Assert.DoesNotContain(gateway.Env, e => e.Name.StartsWith("IngestFleet__S3__", StringComparison.Ordinal));
        Assert.All(cuda.Deployments.Where(d => d.Metadata.Name != "fleet-gateway"),
            d => Assert.Contains(d.Spec.Template.Spec.Containers[0].Env, e => e.Name == "IngestFleet__S3__SecretKey"));

        var set = Render("--set", "worker.decodeParallelism=3,worker.cpuLimit=6,broker.vhost=catalog,worker.decodeBudgetMegapixels=64");
        foreach (var d in set.Deployments.Where(d => d.Metadata.Name != "fleet-gateway"))
        {
            var c = d.Spec.Template.Spec.Containers[0];
            Assert.Contains(c.Env, e => e.Name == "IngestFleet__Fleet__PreprocessParallelism" && e.Value == "3");
            Assert.Contains(c.Env, e => e.Name == "IngestFleet__Images__DecodeBudgetPixels" && e.Value == "64000000");
            Assert.Equal("6", c.Resources.Limits["cpu"].ToString());
        }
        Assert.All(set.ScaledObjects, so => Assert.Equal("catalog", At(so, "spec", "triggers", 0, "metadata", "vhostName")));
        // Defaults: decode parallelism = the profile's intra-op threads, the decode budget from the memory limit, no CPU limit, the default vhost.
        var defaults = Render();
        Assert.All(defaults.Deployments.Where(d => d.Metadata.Name != "fleet-gateway"), d =>
        {
            var c = d.Spec.Template.Spec.Containers[0];
            Assert.Contains(c.Env, e => e.Name == "IngestFleet__Fleet__PreprocessParallelism" && e.Value == "2");
            // The decode budget from the memory limit: 3/4 of (1600 MiB x 1.5 - 1600 MiB) at 4 bytes per pixel, in whole megapixels.
            Assert.Contains(c.Env, e => e.Name == "IngestFleet__Images__DecodeBudgetPixels" && e.Value == (600L * 1024 * 1024 / 4 / 1_000_000 * 1_000_000).ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.False(c.Resources.Limits.ContainsKey("cpu"));
        });
        Assert.All(defaults.ScaledObjects, so => Assert.Equal("/", At(so, "spec", "triggers", 0, "metadata", "vhostName")));
        // Each of the two gateway replicas counts its own admissions: each gets half the tenant share.
        Assert.Equal("0.25", Assert.Single(defaults.ConfigMaps).Data["IngestFleet__Limits__TenantShare"]);
    }
}
