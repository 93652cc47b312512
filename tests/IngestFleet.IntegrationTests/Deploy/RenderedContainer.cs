using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using IngestFleet.Tests;

namespace IngestFleet.IntegrationTests.Deploy;

/// <summary>One container as a deploy file renders it: which image, its environment (in the order Kubernetes or compose
/// applies it, later entries winning), the files mounted into it, and the pod's user settings.</summary>
public sealed record RenderedContainer(string Name, string Image, IReadOnlyList<KeyValuePair<string, string>> Env, IReadOnlyList<RenderedMount> Mounts,
    long? RunAsUser = null, bool RunAsNonRoot = false, bool ReadOnlyRootFilesystem = false)
{
    public string? Get(string key) => Env.LastOrDefault(kv => kv.Key == key).Value;
}

/// <summary>A mount: an emptyDir (empty, writable) or files (a Secret's keys, a ConfigMap) at a path in the container.</summary>
public sealed record RenderedMount(string MountPath, Dictionary<string, string>? Files = null);

/// <summary>A started container: its final environment, container port → local port, and its process.</summary>
public sealed record StartedContainer(RenderedContainer Container, Dictionary<string, string> Env, Dictionary<int, int> Ports, Process Process, Func<string> Log);

/// <summary>An image built here by <c>.ci/dockerfile_run.py</c> (its Dockerfile's build stage run without a container
/// engine): the final stage's file system, environment, user and entrypoint.</summary>
public sealed record BuiltImage(string Name, string Root, string User, Dictionary<string, string> Env, string[] Entrypoint, string Base)
{
    /// <summary>Whether a source file (src/, Directory.*.props) changed after the image was built.</summary>
    private static bool Stale(DateTime builtAt)
    {
        var root = TestPaths.RepositoryRoot;
        var sources = Directory.EnumerateFiles(Path.Combine(root, "src"), "*", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                        && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Concat(Directory.EnumerateFiles(root, "Directory.*.props"));
        return sources.Any(f => File.GetLastWriteTimeUtc(f) > builtAt);
    }

    /// <summary>The image <paramref name="name"/> (worker, worker-cuda, gateway) from artifacts/images, built first when
    /// .ci/checks.sh has not built it in this checkout or a source changed since.</summary>
    public static BuiltImage Load(string name)
    {
        var (dockerfile, arch) = name switch
        {
            "worker" => ("src/IngestFleet.WorkerHost/Dockerfile", "amd64"),
            "worker-cuda" => ("src/IngestFleet.WorkerHost/Dockerfile.cuda", "amd64"),
            "gateway" => ("src/IngestFleet.GatewayHost/Dockerfile", "amd64"),
            _ => throw new ArgumentException($"no image {name}", nameof(name)),
        };
        var dir = Path.Combine(TestPaths.RepositoryRoot, "artifacts", "images", name);
        var json = Path.Combine(dir, "image.json");
        if (!File.Exists(json) || Stale(File.GetLastWriteTimeUtc(json)))
        {
            var psi = new ProcessStartInfo("python3", [".ci/lib/dockerfile_run.py", dockerfile, dir, "--arch", arch])
            { WorkingDirectory = TestPaths.RepositoryRoot, RedirectStandardOutput = true, RedirectStandardError = true };
            using var p = Process.Start(psi)!;
            var output = p.StandardOutput.ReadToEndAsync();
            var error = p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, $"building {dockerfile}: {output.Result}{error}");
        }
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var r = doc.RootElement;
        return new BuiltImage(name, r.GetProperty("root").GetString()!, r.GetProperty("user").GetString()!,
            r.GetProperty("env").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!),
            [.. r.GetProperty("entrypoint").EnumerateArray().Select(e => e.GetString()!)], r.GetProperty("base").GetString()!);
    }
}

/// <summary>
/// Starts a rendered container's entrypoint from its built image as a process on this machine, with exactly the
/// rendered configuration and only these stated substitutions for what differs between a cluster and this machine:
/// <list type="bullet">
/// <item>image paths (<c>/app/…</c>) and mount paths point into the image's folder and into test folders;</item>
/// <item>cluster host names (<c>rabbitmq:5672</c>, <c>minio.storage:9000</c>, …) are mapped to the local broker and S3
/// server (<see cref="HostMap"/>), and container ports to free local ports;</item>
/// <item>the .NET runtime of the aspnet base image is this machine's (DOTNET_ROOT).</item>
/// </list>
/// As the kubelet does, a container with runAsNonRoot whose user is not numeric is refused (kubelet:
/// pkg/kubelet/kuberuntime/security_context_others.go, verifyRunAsNonRoot: "image has non-numeric user (app), cannot
/// verify user is non-root"). Run as root (CI), the process runs as the pod's numeric user with setpriv, so a write
/// outside its emptyDir fails as on a read-only root file system.
/// </summary>
public sealed partial class ContainerLauncher : IAsyncDisposable
{
    private readonly List<(Process Process, RenderedContainer Container, System.Text.StringBuilder Log)> _started = [];
    private readonly string _scratch = Scratch();

    /// <summary>The folder for mounts, traversable by the pod's user (a temporary folder is private to its creator).</summary>
    private static string Scratch()
    {
        var dir = Directory.CreateTempSubdirectory("ingestfleet-rendered-").FullName;
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
        return dir;
    }

    /// <summary>host:port (or host) in rendered values → the local endpoint.</summary>
    public Dictionary<string, string> HostMap { get; } = new(StringComparer.Ordinal);

    /// <summary>Keys the environment adds that the deploy file leaves to the platform (for example S3 credentials from
    /// an instance role), named in each test.</summary>
    public Dictionary<string, string> PlatformEnv { get; } = new(StringComparer.Ordinal);

    public static int FreePort() => IngestFleet.Tests.TestPorts.Free();

    public StartedContainer Start(RenderedContainer c, BuiltImage image, params int[] containerPorts)
    {
        var user = c.RunAsUser?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? image.User;
        if (c.RunAsNonRoot && !long.TryParse(user, out _))
            throw new InvalidOperationException($"{c.Name}: container has runAsNonRoot and image has non-numeric user ({user}), cannot verify user is non-root (the kubelet refuses to start it)");
        if (c.RunAsNonRoot && user == "0")
            throw new InvalidOperationException($"{c.Name}: container has runAsNonRoot and image will run as root");
        // Without runAsNonRoot a runtime resolves a user name in the image's /etc/passwd: the .NET base images' "app" is
        // APP_UID (dotnet-docker's runtime-deps Dockerfiles create it with that UID).
        if (user == "app" && image.Env.TryGetValue("APP_UID", out var appUid)) user = appUid;
        if (!long.TryParse(user, out var uid))
            throw new InvalidOperationException($"{c.Name}: the image's user {user} cannot be resolved here");

        // Mounts: an emptyDir is an empty folder the user owns; a Secret's keys are read-only files.
        var mountMap = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var m in c.Mounts)
        {
            var dir = Path.Combine(_scratch, $"{c.Name}-{mountMap.Count}");
            Directory.CreateDirectory(dir);
            foreach (var (file, content) in m.Files ?? []) File.WriteAllText(Path.Combine(dir, file), content);
            if (Environment.UserName == "root") Chown(dir, uid, m.Files is null);
            mountMap[m.MountPath] = dir;
        }

        var ports = containerPorts.ToDictionary(p => p, _ => FreePort());
        var env = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ["HOME"] = "/nonexistent", // the pod's user has no writable home on a read-only root file system
            ["DOTNET_ROOT"] = Path.GetDirectoryName(Environment.ProcessPath is { } host && Path.GetFileNameWithoutExtension(host) == "dotnet" ? host : "/usr/share/dotnet/dotnet")!,
        };
        foreach (var (k, v) in image.Env) env[k] = v;
        foreach (var (k, v) in c.Env) env[k] = v;
        foreach (var (k, v) in PlatformEnv) env.TryAdd(k, v);
        foreach (var k in env.Keys.ToList()) env[k] = Map(env[k], image, mountMap, ports);

        var entry = image.Root + image.Entrypoint[0];
        var psi = Environment.UserName == "root"
            ? new ProcessStartInfo("setpriv", ["--reuid", user, "--regid", user, "--clear-groups", "--", entry, .. image.Entrypoint[1..]])
            : new ProcessStartInfo(entry, image.Entrypoint[1..]);
        psi.RedirectStandardOutput = psi.RedirectStandardError = true;
        psi.WorkingDirectory = image.Root + "/app";
        psi.Environment.Clear();
        foreach (var (k, v) in env) psi.Environment[k] = v;
        var log = new System.Text.StringBuilder();
        var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.AppendLine(e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _started.Add((p, c, log));
        return new StartedContainer(c, env, ports, p, () => { lock (log) return log.ToString(); });
    }

    private string Map(string value, BuiltImage image, Dictionary<string, string> mounts, Dictionary<int, int> ports)
    {
        foreach (var (from, to) in mounts.OrderByDescending(kv => kv.Key.Length))
            if (value == from || value.StartsWith(from + "/", StringComparison.Ordinal)) return to + value[from.Length..];
        if (value.StartsWith("/app/", StringComparison.Ordinal) || value == "/app") return image.Root + value;
        foreach (var (from, to) in HostMap) value = value.Replace(from, to, StringComparison.Ordinal);
        // A listening address (http://0.0.0.0:8080) or a bare port value: the container port → its local port.
        foreach (var (container, local) in ports)
        {
            value = Regex.Replace(value, $@"^(https?://(?:0\.0\.0\.0|\+|\*|127\.0\.0\.1|\[::\])):{container}$", $"$1:{local}");
            if (value == container.ToString(System.Globalization.CultureInfo.InvariantCulture)) value = local.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        return value;
    }

    private static void Chown(string dir, long uid, bool writable)
    {
        using var p = Process.Start("chown", ["-R", $"{uid}:{uid}", dir])!;
        p.WaitForExit();
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(dir, writable ? (UnixFileMode)0b111_000_000 : (UnixFileMode)0b101_101_101);
    }

    /// <summary>Waits until GET url answers 200, or fails with the process's log.</summary>
    public static async Task WaitReadyAsync(StartedContainer s, string path, int port, TimeSpan timeout)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + timeout;
        var url = $"http://127.0.0.1:{s.Ports[port]}{path}";
        string last = "";
        while (DateTime.UtcNow < deadline)
        {
            if (s.Process.HasExited) break;
            try
            {
                using var r = await http.GetAsync(new Uri(url));
                if (r.IsSuccessStatusCode) return;
                last = $"{(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}";
            }
            catch (HttpRequestException e) { last = e.Message; }
            catch (TaskCanceledException e) { last = e.Message; }
            await Task.Delay(500);
        }
        Assert.Fail($"{s.Container.Name} did not become ready at {url} ({(s.Process.HasExited ? $"exited {s.Process.ExitCode}" : last)}):\n{Tail(s.Log())}");
    }

    public static string Tail(string log) => log.Length > 4000 ? log[^4000..] : log;

    public async ValueTask DisposeAsync()
    {
        foreach (var (p, _, _) in _started)
        {
            if (!p.HasExited)
            {
                using var term = Process.Start("kill", ["-TERM", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
                await term.WaitForExitAsync();
            }
        }
        foreach (var (p, _, _) in _started)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try { await p.WaitForExitAsync(cts.Token); }
            catch (OperationCanceledException) { p.Kill(entireProcessTree: true); }
            p.Dispose();
        }
        try { Directory.Delete(_scratch, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
