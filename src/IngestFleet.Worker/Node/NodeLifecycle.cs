using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using IngestFleet.Embedding.Inference;
using IngestFleet.Storage;
using IngestFleet.Worker.Processing;
using IngestFleet.Worker.Profiles;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace IngestFleet.Worker.Node;

/// <summary>
/// Writes the worker's lifecycle to the store (process start, model ready, first vector, drain begin, stop, with host,
/// hardware, EP and profile), so cold start and wall clock are measured by the fleet itself and compared with what the
/// node was billed. Each worker process writes its own object, <c>nodes/{node-id}/lifecycle/{start}-{pid}-{id}.jsonl</c>:
/// several processes on one node (the launchd daemon, a soak, a restart overlapping its predecessor) never write the
/// same key, so none loses another's events; readers merge them. Registered before the bus: its start loads the model
/// and runs the golden pack, so a worker consumes only once its model is verified. A store that cannot be written is
/// logged, never fatal.
/// </summary>
public sealed class NodeLifecycle(Embedder embedder, IObjectStore store, FleetLedger ledger, LoadedProfile profile, IConfiguration config,
    IHostApplicationLifetime lifetime, TimeProvider time, ILogger<NodeLifecycle> logger) : IHostedService, IDisposable
{
    private readonly SemaphoreSlim _write = new(1, 1);
    private int _firstVector;
    private CancellationTokenRegistration _stopping;

    public string NodeId { get; } = config["IngestFleet:Node:Id"] is { Length: > 0 } id ? id : Environment.MachineName;

    private static readonly DateTimeOffset ProcessStart = new(Process.GetCurrentProcess().StartTime.ToUniversalTime());

    /// <summary>This writer's own object: nobody else writes it.</summary>
    public string Key { get; } = $"{Prefix(config["IngestFleet:Node:Id"] is { Length: > 0 } n ? n : Environment.MachineName)}" +
                                 $"{ProcessStart:yyyyMMdd'T'HHmmss'Z'}-{Environment.ProcessId}-{Guid.NewGuid():N}.jsonl";

    public static string Prefix(string nodeId) => $"nodes/{nodeId}/lifecycle/";

    /// <summary>Where builds before per-process objects wrote one shared file; still read.</summary>
    public static string LegacyKey(string nodeId) => $"nodes/{nodeId}/lifecycle.jsonl";

    private readonly StringBuilder _written = new();

    public static string Hardware => $"{RuntimeInformation.OSDescription}; {RuntimeInformation.ProcessArchitecture}; {Environment.ProcessorCount} logical cores; " +
                                     $"{GC.GetGCMemoryInfo().TotalAvailableMemoryBytes >> 20} MiB";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await AppendAsync("process_start", ProcessStart, cancellationToken);
        await AppendAsync("model_ready", time.GetUtcNow(), cancellationToken); // the embedder was loaded and golden-checked to construct this
        ledger.BatchCompleted += OnBatch;
        _stopping = lifetime.ApplicationStopping.Register(() => _ = AppendAsync("drain_begin", time.GetUtcNow(), CancellationToken.None));
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        ledger.BatchCompleted -= OnBatch;
        await AppendAsync("stop", time.GetUtcNow(), cancellationToken);
    }

    private void OnBatch(object? sender, BatchCompletedEventArgs e)
    {
        if (e.Report.Embedded + e.Report.AlreadyPresent > 0 && Interlocked.Exchange(ref _firstVector, 1) == 0)
            _ = AppendAsync("first_vector", time.GetUtcNow(), CancellationToken.None);
    }

    private async Task AppendAsync(string name, DateTimeOffset at, CancellationToken cancellationToken)
    {
        var line = JsonSerializer.Serialize(new LifecycleEvent
        {
            Event = name, At = at, NodeId = NodeId, Host = Environment.MachineName, Hardware = Hardware,
            ExecutionProvider = embedder.ExecutionProvider.Name(), ModelRevision = embedder.Manifest.Revision, Profile = profile.Path,
            Pid = Environment.ProcessId,
        }, LifecycleEvent.Json).ReplaceLineEndings(" ");
        await _write.WaitAsync(cancellationToken);
        try
        {
            // Only this process writes its key, so what it wrote so far is known here: no read-modify-write race.
            _written.Append(line).Append('\n');
            await store.PutAsync(Key, Encoding.UTF8.GetBytes(_written.ToString()), "application/x-ndjson", cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning("could not record lifecycle event {Event} at {Key}: {Error}", name, Key, e.Message);
        }
        finally
        {
            _write.Release();
        }
    }

    /// <summary>The events every process recorded for a node, oldest first (empty when none).</summary>
    public static async Task<IReadOnlyList<LifecycleEvent>> ReadAsync(IObjectStore store, string nodeId, CancellationToken cancellationToken)
    {
        var keys = new List<string> { LegacyKey(nodeId) };
        await foreach (var key in store.ListAsync(Prefix(nodeId), cancellationToken)) keys.Add(key);
        var events = new List<LifecycleEvent>();
        foreach (var key in keys)
        {
            if (await store.GetAsync(key, cancellationToken) is not { } bytes) continue;
            events.AddRange(Encoding.UTF8.GetString(bytes).Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(l => JsonSerializer.Deserialize<LifecycleEvent>(l, LifecycleEvent.Json)!));
        }
        return events.OrderBy(e => e.At).ToList();
    }

    public void Dispose()
    {
        _stopping.Dispose();
        _write.Dispose();
    }
}
