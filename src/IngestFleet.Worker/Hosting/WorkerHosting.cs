using Amazon.S3;
using IngestFleet.Embedding;
using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Models;
using IngestFleet.Embedding.Preprocessing;
using IngestFleet.Messaging;
using IngestFleet.Messaging.Broker;
using IngestFleet.Messaging.Limits;
using IngestFleet.Messaging.Poison;
using IngestFleet.Messaging.Publishing;
using IngestFleet.Messaging.Shedding;
using IngestFleet.ServiceDefaults;
using IngestFleet.Storage;
using IngestFleet.Storage.Resilience;
using IngestFleet.Storage.S3;
using IngestFleet.VectorStore;
using IngestFleet.Worker.Consumers;
using IngestFleet.Worker.Embedded;
using IngestFleet.Worker.Bundles;
using IngestFleet.Worker.Fetching;
using IngestFleet.Worker.Node;
using IngestFleet.Worker.Processing;
using IngestFleet.Worker.Scheduling;
using IngestFleet.Worker.Profiles;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace IngestFleet.Worker.Hosting;

/// <summary>
/// The worker's composition, shared by the worker host and the CLI (<c>worker</c>, and <c>ingest</c> in embedded
/// mode). Data flows one way: job → consumer → fetch → preprocess → embed → store / dead letter. The host adds the
/// service defaults (telemetry, health checks) first.
/// </summary>
public static class WorkerHosting
{
    /// <summary>How long a stopping worker lets in-flight batches finish (MassTransit's stop timeout).</summary>
    public static readonly TimeSpan DrainBudget = TimeSpan.FromSeconds(60);

    /// <summary>Composes the worker for a local manifest (every tenant served).</summary>
    public static IHostApplicationBuilder AddIngestFleetWorker(this IHostApplicationBuilder builder, FleetTransport transport,
        ModelManifest manifest, string? localStoreDirectory = null) =>
        builder.AddIngestFleetWorker(transport, LoadedModel.Local(manifest), localStoreDirectory);

    /// <summary>Composes the worker on a builder whose configuration is complete (see <see cref="WorkerHostFactory"/>,
    /// the one way every entry point builds a worker host).</summary>
    public static IHostApplicationBuilder AddIngestFleetWorker(this IHostApplicationBuilder builder, FleetTransport transport,
        LoadedModel model, string? localStoreDirectory = null)
    {
        var manifest = model.Manifest;
        builder.ApplyTunedProfile(manifest);
        builder.AddWorkerOptions(transport);
        builder.Services.AddModel(manifest);
        builder.Services.AddStore(transport, localStoreDirectory);
        builder.Services.AddBatchProcessing(transport == FleetTransport.RabbitMq ? model.Bundle : null);
        if (transport == FleetTransport.RabbitMq) builder.Services.AddFleetMessaging(manifest.Revision);
        builder.Services.AddWorkerBus(transport);
        builder.Services.AddHostedService<StartupLogger>();
        builder.Services.AddHostedService<HealthServer>();
        builder.Services.AddHealthChecks()
            .AddCheck<ModelReadyCheck>("model", tags: [HealthEndpoints.ReadyTag])
            .AddCheck<StoreReadyCheck>("store", tags: [HealthEndpoints.ReadyTag]);
        return builder;
    }

    /// <summary>A tuned profile (<c>ingestfleet tune</c>) sets batch = message limit = prefetch and the thread caps; it
    /// wins over the same keys from appsettings/environment, and is refused when tuned for another model revision.</summary>
    private static void ApplyTunedProfile(this IHostApplicationBuilder builder, ModelManifest manifest)
    {
        TunedProfile? profile = null;
        var path = builder.Configuration["IngestFleet:Profile"];
        if (path is { Length: > 0 })
        {
            profile = TunedProfile.Load(path);
            if (profile.ModelRevision != manifest.Revision)
                throw new ProfileException($"{path} was tuned for model {profile.ModelRevision}; this worker serves {manifest.Revision}. Run `ingestfleet tune --model …` for it.");
            builder.Configuration.AddInMemoryCollection(profile.ToConfiguration());
        }
        builder.Services.AddSingleton(new LoadedProfile(profile, path));
    }

    /// <summary>Every options class is bound once here and validated at start-up.</summary>
    private static void AddWorkerOptions(this IHostApplicationBuilder builder, FleetTransport transport)
    {
        var (services, config) = (builder.Services, builder.Configuration);
        services.AddMessagingOptions(config);
        services.AddValidatedOptions<S3Options>(config, S3Options.SectionName);
        services.AddValidatedOptions<FetchOptions>(config, FetchOptions.SectionName)
            .PostConfigure(o => o.AllowFileScheme = transport == FleetTransport.InMemory);
        services.AddValidatedOptions<EmbedderOptions>(config, EmbedderOptions.SectionName)
            .PostConfigure<IOptions<FleetOptions>>((e, fleet) => e.CoreMLBatch = fleet.Value.BatchSize); // Core ML's static shape = the batch this worker runs
        services.AddValidatedOptions<ImageLimits>(config, ImageLimits.SectionName);
        services.AddValidatedOptions<HealthOptions>(config, HealthOptions.SectionName);
        services.AddValidatedOptions<StoreRetryOptions>(config, StoreRetryOptions.SectionName);
        services.AddValidatedOptions<SourcePolicyOptions>(config, SourcePolicyOptions.SectionName);
        services.AddValidatedOptions<PublisherIdentityOptions>(config, PublisherIdentityOptions.SectionName);
        if (transport == FleetTransport.RabbitMq) // the embedded mode reads local files
            services.AddSingleton<IValidateOptions<SourcePolicyOptions>, FleetWorkerSourcePolicy>();
    }

    /// <summary>The model, loaded and golden-checked once and shared; with priority scheduling, the low-priority
    /// threads that run less urgent classes.</summary>
    private static void AddModel(this IServiceCollection services, ModelManifest manifest)
    {
        services.AddSingleton(manifest);
        // Background stages only pay off when this worker serves more than one class (a per-class Kubernetes pool, or an
        // embedded run of a single-class catalog, has nothing to preempt). On the CPU EP they hold a second session, and
        // both sessions use one copy of the weights (SharedWeights).
        static bool ServesSeveralClasses(FleetOptions f) => f.PriorityScheduling && f.LowPriorityBackground && f.ConsumedQueueNames().Count() >= 2;
        services.AddSingleton(sp => new SharedWeightsHolder(
            ServesSeveralClasses(sp.GetRequiredService<FleetOptions>())
            && Embedder.ResolveProvider(sp.GetRequiredService<EmbedderOptions>().ExecutionProvider) == ExecutionProvider.Cpu
                ? SharedWeights.Load(manifest.OnnxPath)
                : null));
        services.AddSingleton(sp => Embedder.Load(manifest, sp.GetRequiredService<EmbedderOptions>(),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("IngestFleet.Embedder"), sp.GetRequiredService<SharedWeightsHolder>().Weights));
        services.AddSingleton(sp =>
        {
            var f = sp.GetRequiredService<FleetOptions>();
            if (!ServesSeveralClasses(f)) return new BackgroundStagesHolder(null);
            var executor = new BackgroundExecutor(f.EffectivePreprocessParallelism, "ingestfleet-background");
            var foreground = sp.GetRequiredService<Embedder>();
            if (foreground.ExecutionProvider != ExecutionProvider.Cpu)
                return new BackgroundStagesHolder(new BackgroundStages(executor, foreground, ownsEmbedder: false));
            var weights = sp.GetRequiredService<SharedWeightsHolder>().Weights;
            return new BackgroundStagesHolder(BackgroundStages.Create(executor, () => Embedder.Load(manifest,
                sp.GetRequiredService<EmbedderOptions>().WithoutGoldenCheck(),
                sp.GetRequiredService<ILoggerFactory>().CreateLogger("IngestFleet.Embedder.Background"), weights)));
        });
        services.AddSingleton(sp => new ImagePreprocessor(manifest.Preprocess, sp.GetRequiredService<ImageLimits>()));
        services.AddSingleton<EmbeddingPipeline>();
        // Before the bus: loading the model (checksum, golden pack on the EP) happens before any consuming starts.
        services.AddHostedService<NodeLifecycle>();
        services.AddHostedService<PipelineWarmup>();
    }

    private static void AddStore(this IServiceCollection services, FleetTransport transport, string? localStoreDirectory)
    {
        if (transport == FleetTransport.RabbitMq)
        {
            services.AddSingleton(sp => new S3ObjectStore(sp.GetRequiredService<S3Options>()));
            services.AddSingleton<IAmazonS3>(sp => sp.GetRequiredService<S3ObjectStore>().Client);
        }
        else
        {
            var dir = localStoreDirectory ?? throw new ArgumentNullException(nameof(localStoreDirectory), "the embedded mode needs a local store directory");
            services.AddSingleton(new LocalDirectoryStore(dir));
        }
        // Every store call rides out a transient outage (retry with backoff and jitter for a budget) instead of failing the batch.
        services.AddSingleton<IObjectStore>(sp =>
        {
            IObjectStore inner = transport == FleetTransport.RabbitMq ? sp.GetRequiredService<S3ObjectStore>() : sp.GetRequiredService<LocalDirectoryStore>();
            var logger = sp.GetRequiredService<ILoggerFactory>().CreateLogger("IngestFleet.Store");
            return new ResilientObjectStore(inner, sp.GetRequiredService<StoreRetryOptions>(), sp.GetRequiredService<TimeProvider>(),
                (operation, attempt, error) => logger.LogWarning("store: {Operation} failed ({Error}); attempt {Attempt} follows", operation, error.Message, attempt));
        });
        services.AddSingleton(sp => new ResultWriter(sp.GetRequiredService<IObjectStore>(), sp.GetRequiredService<TimeProvider>()));
    }

    /// <param name="bundle">The tenant bundle the model came from: only tenants with that revision archived are
    /// served. Null (a local manifest, or the embedded mode) serves every tenant.</param>
    private static void AddBatchProcessing(this IServiceCollection services, ModelBundleSource? bundle)
    {
        services.AddSingleton(sp => new ImageFetcher(sp.GetRequiredService<FetchOptions>(), sp.GetService<IAmazonS3>(), sp.GetRequiredService<ILogger<ImageFetcher>>(),
            sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<FleetLedger>();
        // One CPU scheduler per process: capacity = cores; levels = priority classes (online first).
        services.AddSingleton(sp => new PriorityGate(Environment.ProcessorCount, sp.GetRequiredService<FleetOptions>().Priorities.Length, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<BatchTelemetry>();
        services.AddSingleton(sp =>
        {
            var time = sp.GetRequiredService<TimeProvider>();
            if (bundle is null) return TenantBundlePolicy.AllowAll(time);
            // The fleet's own resilient store when the bundle lives in the fleet bucket; otherwise a view of the bundle
            // bucket through the same S3 client, behind the same retry policy.
            IObjectStore store = bundle.Bucket == sp.GetRequiredService<S3Options>().Bucket
                ? sp.GetRequiredService<IObjectStore>()
                : sp.GetRequiredService<BundleBucketStore>().Store;
            return new TenantBundlePolicy(store, enforced: true, time);
        });
        if (bundle is not null)
            services.AddSingleton(sp => new BundleBucketStore(sp.GetRequiredService<S3ObjectStore>().ForBucket(bundle.Bucket),
                sp.GetRequiredService<StoreRetryOptions>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>()));
        services.AddSingleton<BatchProcessor>();
    }

    /// <summary>The fleet side of RabbitMQ that a worker runs besides consuming: the publisher (replay), the depth
    /// monitor and the shedder (one per fleet, elected through a lock queue).</summary>
    private static void AddFleetMessaging(this IServiceCollection services, string revision)
    {
        services.AddBrokerServices($"ingestfleet-worker-{Environment.MachineName}");
        // Jobs are bound to their publisher's broker identity: the processor refuses a tenant its publisher may not act for.
        services.AddSingleton(sp => new PublisherIdentity(sp.GetRequiredService<RabbitMqOptions>(), sp.GetRequiredService<PublisherIdentityOptions>()));
        // A batch goes on without an item whose fetch outlasts the per-item budget; the item goes back on its queue.
        services.AddSingleton<IJobDeferral, BrokerJobDeferral>();
        services.AddSingleton(sp => new Shedder(sp.GetRequiredService<BrokerLink>(), sp.GetRequiredService<IDepthSource>(), sp.GetRequiredService<IObjectStore>(),
            sp.GetRequiredService<FleetOptions>(), sp.GetRequiredService<LimitsOptions>(), revision, sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<Shedder>>(), sp.GetRequiredService<PublisherIdentity>()));
        services.AddHostedService<ShedLoop>();
        // Online queries of this revision (POST /v1/embed on the gateway), answered in the most urgent class by the workers
        // that consume it (a bulk-only pool would answer them behind its own bulk work).
        services.AddSingleton<Queries.QueryAnswerer>();
        services.AddHostedService<Queries.QueryServer>();
        services.AddHostedService(sp => new PoisonDrain(sp.GetRequiredService<BrokerLink>(), sp.GetRequiredService<IObjectStore>(),
            sp.GetRequiredService<FleetOptions>(), revision, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<PoisonDrain>>(),
            sp.GetRequiredService<PublisherIdentity>()));
    }

    /// <summary>MassTransit: one receive endpoint per priority queue, all configured by <see cref="EmbedBatchConsumerDefinition"/>;
    /// the only wire format is the raw JSON job, on both transports.</summary>
    private static void AddWorkerBus(this IServiceCollection services, FleetTransport transport)
    {
        // Start-up returns only once every receive endpoint is consuming; stop waits for in-flight batches.
        services.Configure<MassTransitHostOptions>(o =>
        {
            o.WaitUntilStarted = true;
            o.StartTimeout = TimeSpan.FromSeconds(60);
            o.StopTimeout = DrainBudget;
        });
        services.AddMassTransit(x =>
        {
            // MassTransit 8.4+ reports usage to an internet host unless told not to; a fleet node must not call out.
            x.ConfigureUsageTelemetryOptions(o => o.Enabled = false);
            x.AddConsumer<EmbedBatchConsumer, EmbedBatchConsumerDefinition>();
            if (transport == FleetTransport.RabbitMq)
            {
                x.UsingRabbitMq((context, cfg) =>
                {
                    var rabbit = context.GetRequiredService<RabbitMqOptions>();
                    ConfigureHost(cfg, rabbit);
                    cfg.UseRawJsonSerializer(RawSerializerOptions.AnyMessageType, isDefault: true);
                    foreach (var queue in context.GetRequiredService<FleetOptions>().ConsumedQueueNames())
                        cfg.ReceiveEndpoint(queue, e => e.ConfigureConsumer<EmbedBatchConsumer>(context));
                });
            }
            else
            {
                services.AddSingleton<InMemoryJobPublisher>();
                services.AddSingleton<IJobPublisher>(sp => sp.GetRequiredService<InMemoryJobPublisher>());
                x.UsingInMemory((context, cfg) =>
                {
                    cfg.UseRawJsonSerializer(RawSerializerOptions.AnyMessageType, isDefault: true);
                    foreach (var queue in context.GetRequiredService<FleetOptions>().ConsumedQueueNames())
                        cfg.ReceiveEndpoint(queue, e => e.ConfigureConsumer<EmbedBatchConsumer>(context));
                });
            }
        });
    }
    /// <summary>The bus's host: the URI (credentials, vhost), publisher confirms, and the node list and TLS exactly as
    /// <see cref="BrokerEndpoints"/> gives them to raw AMQP. MassTransit reconnects through the list in turn, from the
    /// node after the one it lost.</summary>
    internal static void ConfigureHost(IRabbitMqBusFactoryConfigurator bus, RabbitMqOptions options)
    {
        var uri = new Uri(options.Uri);
        var trust = new BrokerTlsTrust(options.Tls);
        bus.Host(uri, h =>
        {
            h.PublisherConfirmation = true;
            if (options.HasClusterNodes)
                h.UseCluster(c =>
                {
                    foreach (var (host, port) in options.Nodes())
                        c.Node(FormattableString.Invariant($"{host}:{port}"));
                });
            if (uri.Scheme == "amqps")
                h.UseSsl(s =>
                {
                    s.ServerName = options.Tls.ServerName ?? uri.Host;
                    // As raw AMQP. MassTransit's host settings default to TLS 1.2 alone and to accepting chain errors
                    // (RabbitMqTransport/Configuration/ConfigurationHostSettings.cs: DefaultSslProtocols = Tls12,
                    // AcceptablePolicyErrors |= RemoteCertificateChainErrors); the validation callback below decides, and
                    // chain and name errors are enforced besides, so no default of theirs can let a certificate through.
                    s.Protocol = BrokerEndpoints.TlsVersions;
                    s.EnforcePolicyErrors(System.Net.Security.SslPolicyErrors.RemoteCertificateChainErrors | System.Net.Security.SslPolicyErrors.RemoteCertificateNameMismatch
                                          | System.Net.Security.SslPolicyErrors.RemoteCertificateNotAvailable);
                    s.CertificateValidationCallback = trust.Validate;
                    if (trust.ClientCertificate() is { } client) s.Certificate = client;
                });
        });
    }
}

/// <summary>The tenant-bundle bucket when it is not the fleet bucket: a view through the fleet's S3 client, retried like
/// every other store call, owned (and disposed) by the container.</summary>
internal sealed class BundleBucketStore(S3ObjectStore bucket, StoreRetryOptions retry, TimeProvider time, ILoggerFactory loggers) : IDisposable
{
    public IObjectStore Store { get; } = new ResilientObjectStore(bucket, retry, time, (operation, attempt, error) =>
        loggers.CreateLogger("IngestFleet.Store.Bundles").LogWarning("bundle store: {Operation} failed ({Error}); attempt {Attempt} follows", operation, error.Message, attempt));

    public void Dispose() => bucket.Dispose();
}
