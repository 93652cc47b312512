using System.Diagnostics;
using System.Text;

namespace IngestFleet.Faults;

/// <summary>
/// A 3-node RabbitMQ cluster on this machine (<c>.ci/lib/rabbit-cluster.sh</c>: nodes ifc1..ifc3@localhost on AMQP
/// 5681..5683, management 15681..15683, joined with <c>join_cluster</c>). Started by the test that needs it and deleted
/// when disposed; a node is stopped and started with <c>rabbitmqctl stop_app</c> / <c>start_app</c>, as in a rolling
/// upgrade.
/// </summary>
public sealed class BrokerCluster : IAsyncDisposable
{
    private readonly Action<string>? _log;

    private BrokerCluster(Action<string>? log) => _log = log;

    public const int Size = 3;

    /// <summary>The fleet's connection string: credentials and vhost; its host is node 1's.</summary>
    public static string Uri => "amqp://guest:guest@127.0.0.1:5681/";

    /// <summary>The node list in configured order (node 1 first).</summary>
    public static IReadOnlyList<string> Nodes => [.. Enumerable.Range(1, Size).Select(n => $"127.0.0.1:{5680 + n}")];

    public static IReadOnlyList<string> ManagementUrls => [.. Enumerable.Range(1, Size).Select(n => $"http://127.0.0.1:{15680 + n}")];

    /// <summary>Starts the cluster, or reuses one that runs with all three nodes joined.</summary>
    public static async Task<BrokerCluster> UpAsync(Action<string>? log = null)
    {
        log?.Invoke(await ScriptAsync(TimeSpan.FromMinutes(5), "up"));
        return new BrokerCluster(log);
    }

    public async Task StopAppAsync(int node)
    {
        await ScriptAsync(TimeSpan.FromMinutes(2), "stop_app", node.ToString(System.Globalization.CultureInfo.InvariantCulture));
        _log?.Invoke($"rabbitmqctl -n ifc{node}@localhost stop_app");
    }


    public async Task StartAppAsync(int node)
    {
        await ScriptAsync(TimeSpan.FromMinutes(3), "start_app", node.ToString(System.Globalization.CultureInfo.InvariantCulture));
        _log?.Invoke($"rabbitmqctl -n ifc{node}@localhost start_app; await_startup");
    }

    /// <summary>The node (1..3) holding the queue's leader, from the management API of any node that answers.</summary>
    public static async Task<int> LeaderOfAsync(string queue, CancellationToken cancellationToken)
    {
        var doc = await QueueAsync(queue, cancellationToken);
        if (doc.TryGetProperty("leader", out var leader) && leader.GetString() is { } name && name.StartsWith("ifc", StringComparison.Ordinal))
            return int.Parse(name[3..name.IndexOf('@', StringComparison.Ordinal)], System.Globalization.CultureInfo.InvariantCulture);
        throw new InvalidOperationException($"no node reports a leader for {queue}");
    }

    /// <summary>The nodes holding a replica of the (quorum) queue.</summary>
    public static async Task<IReadOnlyList<string>> MembersOfAsync(string queue, CancellationToken cancellationToken)
    {
        var doc = await QueueAsync(queue, cancellationToken);
        return doc.TryGetProperty("members", out var members) ? [.. members.EnumerateArray().Select(m => m.GetString()!)] : [];
    }

    private static async Task<System.Text.Json.JsonElement> QueueAsync(string queue, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("guest:guest")));
        foreach (var url in ManagementUrls)
        {
            try
            {
                using var doc = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync(new System.Uri($"{url}/api/queues/%2F/{System.Uri.EscapeDataString(queue)}"), cancellationToken));
                return doc.RootElement.Clone();
            }
            catch (HttpRequestException)
            {
                // that node is down: ask the next
            }
        }
        throw new InvalidOperationException($"no node reports a leader for {queue}");
    }

    /// <summary>Runs <c>.ci/lib/rabbit-cluster.sh</c> (from <c>INGESTFLEET_TEST_RABBIT_CLUSTER</c>, exported by
    /// <c>.ci/services.sh</c>) with these arguments; its output, or an exception with it when it fails.</summary>
    internal static async Task<string> ScriptAsync(TimeSpan timeout, params string[] args)
    {
        var script = Environment.GetEnvironmentVariable("INGESTFLEET_TEST_RABBIT_CLUSTER");
        if (string.IsNullOrEmpty(script) || !File.Exists(script))
            throw new InvalidOperationException("this test needs INGESTFLEET_TEST_RABBIT_CLUSTER (.ci/lib/rabbit-cluster.sh, exported by .ci/services.sh) and Debian's rabbitmq-server");
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(script);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        await p.WaitForExitAsync(cts.Token);
        if (p.ExitCode != 0) throw new InvalidOperationException($"rabbit-cluster.sh {string.Join(' ', args)} failed ({p.ExitCode}): {await stderr}{await stdout}");
        return (await stdout).Trim();
    }

    public async ValueTask DisposeAsync() => await ScriptAsync(TimeSpan.FromMinutes(2), "down");
}
