using System.Runtime.InteropServices;
using IngestFleet.Embedding.Diagnostics;
using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Models;
using IngestFleet.Messaging;
using IngestFleet.Messaging.Broker;
using IngestFleet.Storage.S3;
using IngestFleet.Worker.Bundles;
using IngestFleet.Worker.Fetching;
using IngestFleet.Worker.Profiles;
using Microsoft.Extensions.Configuration;
using RabbitMQ.Client.Exceptions;

namespace IngestFleet.Worker.Node;

/// <summary>
/// What an SRE must know before a node takes traffic, from the same configuration the worker reads: the execution
/// provider (Core ML available or not, and why), the model bundle (checksum and golden pack on that EP, fallback
/// nodes), the tuned profile and thread caps in force, broker and object store reachable, swap, and free memory
/// against what the model and the batch need. The node is fit when no blocking check failed.
/// </summary>
public static class NodeDoctor
{
    public static bool IsFit(IEnumerable<DoctorCheck> checks) => checks.All(c => c.Ok || !c.Blocking);

    public static async Task<IReadOnlyList<DoctorCheck>> RunAsync(IConfiguration config, CancellationToken cancellationToken)
    {
        var checks = new List<DoctorCheck>();
        var embedder = Bind<EmbedderOptions>(config, EmbedderOptions.SectionName);
        var fleet = Bind<FleetOptions>(config, FleetOptions.SectionName);
        TunedProfile? profile = null;
        ModelManifest? manifest = null;

        checks.Add(CheckExecutionProvider(embedder.ExecutionProvider));
        try
        {
            // Exactly as the worker loads it: a local manifest or revision, or an s3:// tenant bundle into the cache.
            manifest = (await WorkerModels.LoadAsync(config, cancellationToken)).Manifest;
        }
        catch (Exception e) when (e is ModelManifestException or ModelBundleException or IOException or UnauthorizedAccessException
                                      or Amazon.Runtime.AmazonClientException or Amazon.Runtime.AmazonServiceException or HttpRequestException)
        {
            checks.Add(new DoctorCheck("model bundle", false, e.Message));
        }
        if (config["IngestFleet:Profile"] is { Length: > 0 } profilePath)
        {
            try
            {
                profile = TunedProfile.Load(profilePath);
            }
            catch (ProfileException e)
            {
                checks.Add(new DoctorCheck("profile", false, e.Message));
            }
        }
        var intra = profile?.IntraOpThreads ?? embedder.EffectiveIntraOpThreads;
        var batch = profile?.Batch ?? fleet.BatchSize;
        if (manifest is not null)
        {
            // The session the worker will build: its thread caps, and on Core ML its static batch (the worker's batch).
            checks.Add(CheckModel(manifest, embedder.WithIntraOpThreads(intra).WithCoreMLBatch(batch)));
            if (profile is not null) checks.Add(CheckProfile(profile, manifest, config["IngestFleet:Profile"]!));
            checks.Add(CheckMemory(manifest, fleet, batch));
        }
        checks.Add(CheckThreads(intra, batch, profile is not null));
        checks.Add(CheckFetchGuard(Bind<FetchOptions>(config, FetchOptions.SectionName)));
        checks.Add(CheckSourcePolicy(Bind<SourcePolicyOptions>(config, SourcePolicyOptions.SectionName)));
        checks.Add(await CheckPagingAsync(cancellationToken));
        checks.Add(await CheckBrokerAsync(Bind<RabbitMqOptions>(config, RabbitMqOptions.SectionName), cancellationToken));
        checks.Add(await CheckStoreAsync(Bind<S3Options>(config, S3Options.SectionName), cancellationToken));
        return checks;
    }

    /// <summary>The worker refuses to start without an s3:// source allow-list (or the explicit opt-out): so does the doctor.</summary>
    private static DoctorCheck CheckSourcePolicy(SourcePolicyOptions sources) => sources.RefusalForFleetWorker() is { } why
        ? new DoctorCheck("source allow-list", false, why)
        : new DoctorCheck("source allow-list", true, sources.Enforced
            ? $"s3:// sources limited per tenant ({sources.S3Sources.Count} tenants listed)"
            : "opted out (RequireAllowList=false): any tenant's job may read any object this node's credentials reach");

    /// <summary>The SSRF guard must be whole on a node: the loopback exemption is for the test suite only.</summary>
    private static DoctorCheck CheckFetchGuard(FetchOptions fetch) => fetch.TestOnlyAllowLoopback
        ? new DoctorCheck("fetch guard", false, "IngestFleet:Fetch:TestOnlyAllowLoopback is on: jobs could make this node fetch from its own loopback services; turn it off")
        : new DoctorCheck("fetch guard", true, "private, loopback and link-local addresses refused for https:// sources");

    private static DoctorCheck CheckExecutionProvider(ExecutionProvider requested)
    {
        var available = OrtRuntime.AvailableProviders;
        var coreML = available.Contains("CoreMLExecutionProvider") && OperatingSystem.IsMacOS()
            ? "Core ML available"
            : OperatingSystem.IsMacOS()
                ? $"Core ML not available: this ONNX Runtime build lacks it ({RuntimeInformation.ProcessArchitecture}); use the osx-arm64 worker bundle"
                : $"Core ML not available: {RuntimeInformation.OSDescription} is not macOS";
        try
        {
            var resolved = Embedder.ResolveProvider(requested);
            return new DoctorCheck("execution provider", true, $"{requested.Name()} resolves to {resolved.Name()}; {coreML}; ORT offers {string.Join(", ", available)}");
        }
        catch (ExecutionProviderUnavailableException e)
        {
            return new DoctorCheck("execution provider", false, $"{e.Message} ({coreML})");
        }
    }

    private static DoctorCheck CheckModel(ModelManifest manifest, EmbedderOptions options)
    {
        try
        {
            using var embedder = Embedder.Load(manifest, options);
            var fallback = embedder.Placement.FallbackNodes;
            var unexplained = embedder.UnexplainedFallbacks;
            if (!embedder.HoldsGraph)
                return new DoctorCheck("model bundle", false,
                    $"{manifest.Revision} on {embedder.ExecutionProvider.Name()}: {embedder.Placement.ShareText}, below the manifest's minimum of " +
                    $"{manifest.MinEpNodeShare:P0}: most of the model would run on the CPU. Check the export's shapes and ops (see the README's Core ML section)");
            if (embedder.UnexplainedFallbackCount > 0)
                return new DoctorCheck("model bundle", false,
                    $"{manifest.Revision} on {embedder.ExecutionProvider.Name()}: {embedder.UnexplainedFallbackCount} unexplained fallback node(s) " +
                    $"({(unexplained.Count > 0 ? string.Join(", ", unexplained.Take(5)) : "ORT named none: every node was placed on the CPU EP")}): " +
                    "reopen the conversion, or list them with a reason under the manifest's expected_fallbacks");
            return new DoctorCheck("model bundle", true,
                $"{manifest.Revision}: SHA-256 verified, golden pack worst cosine distance {embedder.GoldenWorstDistance:G3} ≤ {manifest.Golden.EpsilonFor(embedder.ExecutionProvider.Name()):G3} on {embedder.ExecutionProvider.Name()}; " +
                $"{embedder.Placement.ShareText}; {fallback.Count} node(s) fell back to the CPU EP{(fallback.Count > 0 ? $" ({string.Join(", ", fallback.Take(5))}{(fallback.Count > 5 ? ", …" : "")})" : "")}");
        }
        catch (Exception e) when (e is ModelManifestException or GoldenPackMismatchException or ExecutionProviderUnavailableException)
        {
            return new DoctorCheck("model bundle", false, e.Message);
        }
    }

    private static DoctorCheck CheckProfile(TunedProfile profile, ModelManifest manifest, string path)
    {
        if (profile.ModelRevision != manifest.Revision)
            return new DoctorCheck("profile", false, $"{path} was tuned for {profile.ModelRevision}; this node serves {manifest.Revision}: run `ingestfleet tune` here");
        return new DoctorCheck("profile", true,
            $"{path}: batch {profile.Batch}, intra-op threads {profile.IntraOpThreads}, tuned {profile.CreatedAt:u} on {profile.Machine.Host} ({profile.ExecutionProvider.Name()})");
    }

    private static DoctorCheck CheckThreads(int intra, int batch, bool fromProfile)
    {
        var cores = MachineProbe.PerformanceCores();
        var detail = $"batch {batch} (= prefetch), intra-op threads {intra}, performance cores {cores}, logical cores {Environment.ProcessorCount}" +
                     (fromProfile ? " (from the profile)" : " (defaults: run `ingestfleet tune` on this node for a profile)");
        return intra > Environment.ProcessorCount
            ? new DoctorCheck("thread caps", false, detail + ": more intra-op threads than cores", Blocking: false)
            : new DoctorCheck("thread caps", true, detail);
    }

    /// <summary>How long the doctor watches the kernel's paging counters.</summary>
    public static readonly TimeSpan PagingWindow = TimeSpan.FromSeconds(2);

    /// <summary>Fails a node that is swapping out right now (the kernel's swap-out counter moves during the window). The
    /// amount of swap in use is shown but not gated on: macOS keeps swap allocated long after any pressure is gone.</summary>
    private static async Task<DoctorCheck> CheckPagingAsync(CancellationToken cancellationToken)
    {
        var level = SystemMemory.Read().SwapUsedBytes;
        var levelText = level < 0 ? "swap in use not readable" : $"{level >> 20} MiB of swap in use (not gated: it stays up after past pressure)";
        if (PagingCounters.Read() is not { } before)
            return new DoctorCheck("swap", true, $"paging counters are not readable on this platform; {levelText}", Blocking: false);
        await Task.Delay(PagingWindow, cancellationToken);
        var during = PagingCounters.Read()!.Value.Since(before);
        return PagingVerdict(during, PagingWindow, levelText);
    }

    /// <summary>The verdict on what the paging counters moved during a window.</summary>
    public static DoctorCheck PagingVerdict(PagingCounters during, TimeSpan window, string levelText) => during.SwappedOutBytes > 0
        ? new DoctorCheck("swap", false, $"the kernel swapped out {during.SwappedOutBytes >> 10} KiB in {window.TotalSeconds:0} s: the node is short of memory now; " +
                                         $"free memory or reboot before taking traffic ({levelText})")
        : new DoctorCheck("swap", true, $"no swap-outs in {window.TotalSeconds:0} s ({during.PagedOutBytes >> 10} KiB of file pages written back); {levelText}");

    /// <summary>Needs: the weights once per ORT session (two with low-priority background sessions), the batch's input
    /// tensor, and one decoded full-size image per parallel decode (up to the 50 MP limit, RGBA).</summary>
    private static DoctorCheck CheckMemory(ModelManifest manifest, FleetOptions fleet, int batch)
    {
        var weights = new FileInfo(manifest.OnnxPath).Length;
        var sessions = fleet.PriorityScheduling && fleet.LowPriorityBackground && fleet.Priorities.Length > 1 ? 2 : 1;
        var tensor = (long)batch * 3 * manifest.Preprocess.Size * manifest.Preprocess.Size * sizeof(float);
        var decode = (long)fleet.EffectivePreprocessParallelism * 50_000_000L * 4;
        var needed = weights * sessions * 2 + tensor * 2 + decode + (256L << 20);
        var memory = SystemMemory.Read();
        var summary = $"needs about {needed >> 20} MiB (weights {weights >> 20} MiB × {sessions} session(s), batch tensor {tensor >> 20} MiB, " +
                      $"{fleet.EffectivePreprocessParallelism} decodes up to 50 MP); total {memory.TotalBytes >> 20} MiB";
        if (memory.AvailableBytes < 0) return new DoctorCheck("memory", true, summary + ", available memory not readable here", Blocking: false);
        return memory.AvailableBytes < needed
            ? new DoctorCheck("memory", false, $"{summary}, only {memory.AvailableBytes >> 20} MiB available: lower the batch or decode parallelism, or use a bigger node")
            : new DoctorCheck("memory", true, $"{summary}, {memory.AvailableBytes >> 20} MiB available");
    }

    private static async Task<DoctorCheck> CheckBrokerAsync(RabbitMqOptions rabbit, CancellationToken cancellationToken)
    {
        try
        {
            await using var link = new BrokerLink(rabbit, "ingestfleet-doctor");
            await using var channel = await link.OpenChannelAsync(confirms: false, cancellationToken);
            return new DoctorCheck("broker", true, $"RabbitMQ at {link.Endpoint} answers");
        }
        catch (Exception e) when (e is BrokerUnreachableException or OperationInterruptedException or System.Net.Sockets.SocketException or IOException or TimeoutException)
        {
            return new DoctorCheck("broker", false, $"cannot reach RabbitMQ at {BrokerEndpoints.Describe(rabbit)}: {e.Message}");
        }
    }

    private static async Task<DoctorCheck> CheckStoreAsync(S3Options s3, CancellationToken cancellationToken)
    {
        using var store = new S3ObjectStore(s3);
        try
        {
            await store.ProbeAsync(cancellationToken);
            return new DoctorCheck("object store", true, $"{store.Location} answers");
        }
        catch (Exception e) when (e is Amazon.Runtime.AmazonServiceException or HttpRequestException or Amazon.Runtime.AmazonClientException)
        {
            return new DoctorCheck("object store", false, $"cannot use {store.Location}: {e.Message}");
        }
    }

    private static T Bind<T>(IConfiguration config, string section) where T : new() => config.GetSection(section).Get<T>() ?? new T();
}
