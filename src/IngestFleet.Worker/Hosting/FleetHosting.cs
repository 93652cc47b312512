using Amazon.S3;
using IngestFleet.Contracts;
using IngestFleet.Embedding;
using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Models;
using IngestFleet.Embedding.Preprocessing;
using IngestFleet.Storage;
using IngestFleet.Worker.Consumers;
using IngestFleet.Worker.Fetching;
using IngestFleet.Worker.Limits;
using IngestFleet.Worker.Telemetry;
using IngestFleet.Worker.Tuning;
using IngestFleet.Worker.Publishing;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace IngestFleet.Worker.Hosting;

public enum FleetTransport
{
    /// <summary>The fleet: RabbitMQ queues, S3 store.</summary>
    RabbitMq,
    /// <summary>The embedded single-process mode: MassTransit's in-memory transport, a local-directory store.</summary>
    InMemory,
}

public static class FleetHosting
{
    /// <summary>
    /// Registers the worker: options, the model (loaded and golden-checked once, shared), preprocessing, the store,
    /// the fetcher, the batch consumer on one receive endpoint per priority queue, and health checks.
    /// </summary>
    public static IHostApplicationBuilder AddIngestFleetWorker(this IHostApplicationBuilder builder, FleetTransport transport,
        ModelManifest manifest, string? localStoreDirectory = null)
    {
        var services = builder.Services;
        var config = builder.Configuration;
        // A tuned profile (ingestfleet tune) sets batch = message limit = prefetch and the thread caps; it wins over
        // the same keys from appsettings/environment, and is refused when tuned for another model revision.
        TunedProfile? profile = null;
        if (config["IngestFleet:Profile"] is { Length: > 0 } profilePath)
        {
            profile = TunedProfile.Load(profilePath);
            if (profile.ModelRevision != manifest.Revision)
                throw new ProfileException($"{profilePath} was tuned for model {profile.ModelRevision}; this worker serves {manifest.Revision}. Run `ingestfleet tune --model …` for it.");
            builder.Configuration.AddInMemoryCollection(profile.ToConfiguration());
        }
        services.AddSingleton(new LoadedProfile(profile, config["IngestFleet:Profile"]));
        services.AddOptions<FleetOptions>().Bind(config.GetSection(FleetOptions.SectionName)).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<RabbitMqOptions>().Bind(config.GetSection(RabbitMqOptions.SectionName));
        services.AddOptions<S3Options>().Bind(config.GetSection(S3Options.SectionName)).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<FetchOptions>().Bind(config.GetSection(FetchOptions.SectionName))
            .PostConfigure(o => o.AllowFileScheme = transport == FleetTransport.InMemory);
        services.AddOptions<EmbedderOptions>().Bind(config.GetSection(EmbedderOptions.SectionName)).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<ImageLimits>().Bind(config.GetSection(ImageLimits.SectionName)).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<FleetOptions>>().Value);
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<FetchOptions>>().Value);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(manifest);
        services.AddSingleton(sp => Embedder.Load(manifest, sp.GetRequiredService<IOptions<EmbedderOptions>>().Value,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("IngestFleet.Embedder")));
        services.AddSingleton(sp =>
        {
            var f = sp.GetRequiredService<FleetOptions>();
            if (!f.PriorityScheduling || !f.LowPriorityBackground || f.Priorities.Length < 2) return new BackgroundStagesHolder(null);
            var executor = new BackgroundExecutor(f.EffectivePreprocessParallelism, "ingestfleet-background");
            return new BackgroundStagesHolder(BackgroundStages.Create(executor, () => Embedder.Load(manifest,
                sp.GetRequiredService<IOptions<EmbedderOptions>>().Value.WithoutGoldenCheck(),
                sp.GetRequiredService<ILoggerFactory>().CreateLogger("IngestFleet.Embedder.Background"))));
        });
        services.AddSingleton(sp => new ImagePreprocessor(manifest.Preprocess, sp.GetRequiredService<IOptions<ImageLimits>>().Value));
        services.AddSingleton<EmbeddingPipeline>();
        if (transport == FleetTransport.RabbitMq)
        {
            services.AddSingleton(sp => new S3ObjectStore(sp.GetRequiredService<IOptions<S3Options>>().Value));
            services.AddSingleton<IObjectStore>(sp => sp.GetRequiredService<S3ObjectStore>());
            services.AddSingleton<IAmazonS3>(sp => sp.GetRequiredService<S3ObjectStore>().Client);
        }
        else
        {
            var dir = localStoreDirectory ?? throw new ArgumentNullException(nameof(localStoreDirectory), "the embedded mode needs a local store directory");
            services.AddSingleton<IObjectStore>(new LocalDirectoryStore(dir));
        }
        services.AddSingleton(sp => new ImageFetcher(sp.GetRequiredService<FetchOptions>(), sp.GetService<IAmazonS3>(), sp.GetRequiredService<ILogger<ImageFetcher>>()));
        services.AddSingleton(sp => new ResultWriter(sp.GetRequiredService<IObjectStore>(), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<FleetLedger>();
        // One CPU scheduler per process: capacity = cores; levels = priority classes (online first).
        services.AddSingleton(sp => new PriorityGate(Environment.ProcessorCount, sp.GetRequiredService<FleetOptions>().Priorities.Length));
        services.AddSingleton<BatchProcessor>();
        services.AddSingleton(sp => new JobPublisher(sp.GetRequiredService<ISendEndpointProvider>(), sp.GetRequiredService<FleetOptions>(),
            sp.GetRequiredService<TimeProvider>(), transport == FleetTransport.InMemory));
        services.AddOptions<LimitsOptions>().Bind(config.GetSection(LimitsOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<LimitsOptions>, LimitsValidator>();
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<LimitsOptions>>().Value);
        if (transport == FleetTransport.RabbitMq)
        {
            services.AddSingleton(sp => sp.GetRequiredService<IOptions<RabbitMqOptions>>().Value);
            services.AddSingleton(sp => new BrokerLink(sp.GetRequiredService<RabbitMqOptions>(), $"ingestfleet-worker-{Environment.MachineName}"));
            services.AddSingleton<QueueMonitor>();
            services.AddSingleton(sp => new Shedder(sp.GetRequiredService<BrokerLink>(), sp.GetRequiredService<QueueMonitor>(), sp.GetRequiredService<IObjectStore>(),
                sp.GetRequiredService<FleetOptions>(), sp.GetRequiredService<LimitsOptions>(), manifest.Revision, sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<ILogger<Shedder>>()));
            var limits = new LimitsOptions();
            config.GetSection(LimitsOptions.SectionName).Bind(limits);
            if (limits.ShedEnabled) services.AddHostedService<ShedLoop>();
        }
        services.AddIngestFleetTelemetry(transport == FleetTransport.RabbitMq ? "ingestfleet-worker" : "ingestfleet-embedded");
        services.AddHostedService<StartupLogger>();
        services.AddOptions<HealthOptions>().Bind(config.GetSection(HealthOptions.SectionName));
        services.AddHostedService<HealthEndpoint>();
        services.AddHealthChecks()
            .AddCheck<ModelReadyCheck>("model", tags: ["ready"])
            .AddCheck<StoreReadyCheck>("store", tags: ["ready"]);

        var fleet = new FleetOptions();
        config.GetSection(FleetOptions.SectionName).Bind(fleet);
        // Start-up returns only once every receive endpoint is consuming; stop waits for in-flight batches.
        services.Configure<MassTransitHostOptions>(o =>
        {
            o.WaitUntilStarted = true;
            o.StartTimeout = TimeSpan.FromSeconds(60);
            o.StopTimeout = TimeSpan.FromSeconds(60);
        });
        services.AddMassTransit(x =>
        {
            x.AddConsumer<EmbedBatchConsumer>(c => c.Options<BatchOptions>(o => o
                .SetMessageLimit(fleet.BatchSize).SetTimeLimit(ms: fleet.BatchTimeLimitMs).SetConcurrencyLimit(1)));
            if (transport == FleetTransport.RabbitMq)
            {
                x.UsingRabbitMq((context, cfg) =>
                {
                    var rabbit = context.GetRequiredService<IOptions<RabbitMqOptions>>().Value;
                    cfg.Host(new Uri(rabbit.Uri), h => h.PublisherConfirmation = true);
                    foreach (var priority in fleet.Priorities)
                        cfg.ReceiveEndpoint(fleet.QueueName(priority), e =>
                        {
                            e.ConfigureConsumeTopology = false;
                            e.PrefetchCount = fleet.BatchSize;
                            e.SetQuorumQueue();
                            foreach (var (name, value) in FleetTopology.QueueArguments(fleet).Where(a => a.Key != "x-queue-type"))
                                e.SetQueueArgument(name, value);
                            e.UseRawJsonDeserializer(RawSerializerOptions.AnyMessageType, isDefault: false);
                            e.UseMessageRetry(r => r.Intervals(500, 2000, 5000));
                            e.ConfigureConsumer<EmbedBatchConsumer>(context);
                        });
                });
            }
            else
            {
                x.UsingInMemory((context, cfg) =>
                {
                    foreach (var priority in fleet.Priorities)
                        cfg.ReceiveEndpoint(fleet.QueueName(priority), e =>
                        {
                            e.ConfigureConsumeTopology = false;
                            e.PrefetchCount = fleet.BatchSize;
                            e.UseMessageRetry(r => r.Intervals(200, 1000));
                            e.ConfigureConsumer<EmbedBatchConsumer>(context);
                        });
                });
            }
        });
        return builder;
    }

    /// <summary>Logs the serving configuration once at start-up: batch and thread caps side by side.</summary>
    private sealed class StartupLogger(Embedder embedder, FleetOptions fleet, IObjectStore store, LoadedProfile loaded, BackgroundStagesHolder background,
        ILogger<StartupLogger> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            if (background.Stages is { } bg)
                logger.LogInformation("priority scheduling: {Classes} run their CPU stages on {Threads} low-OS-priority threads ({Lowered} lowered) with a second ORT session; {First} keeps normal priority",
                    string.Join(", ", fleet.Priorities.Skip(1)), bg.Executor.Threads, bg.Executor.LoweredThreads, fleet.Priorities[0]);
            if (loaded.Profile is { } p)
            {
                logger.LogInformation("tuned profile {Path}: batch {Batch}, intra-op threads {Intra}, inter-op threads {Inter} (tuned {When:u} on {Host}, {Ep})",
                    loaded.Path, p.Batch, p.IntraOpThreads, p.InterOpThreads, p.CreatedAt, p.Machine.Host, p.ExecutionProvider);
                if (!string.Equals(p.ExecutionProvider, embedder.ExecutionProvider, StringComparison.OrdinalIgnoreCase))
                    logger.LogWarning("the profile was tuned on {ProfileEp} but this worker runs {Ep}; re-tune on this EP for trustworthy caps", p.ExecutionProvider, embedder.ExecutionProvider);
            }
            logger.LogInformation(
                "IngestFleet worker: model {Revision} ({Dim}-d) on {Ep}; batch {Batch} (prefetch {Prefetch}), micro-batch {Micro}, intra-op threads {Intra}, inter-op threads {Inter}, decode parallelism {Decode}; queues {Queues}; store {Store}",
                embedder.Manifest.Revision, embedder.Dimension, embedder.ExecutionProvider, fleet.BatchSize, fleet.BatchSize, fleet.EffectiveMicroBatch,
                embedder.Options.EffectiveIntraOpThreads, embedder.Options.InterOpThreads, fleet.EffectivePreprocessParallelism,
                string.Join(", ", fleet.Priorities.Select(fleet.QueueName)), store.Location);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>The profile the worker started with (null when none), for logs and health.</summary>
    public sealed record LoadedProfile(TunedProfile? Profile, string? Path);

    private sealed class ModelReadyCheck(Embedder embedder) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.FromResult(HealthCheckResult.Healthy($"{embedder.Manifest.Revision} on {embedder.ExecutionProvider}, golden distance {embedder.GoldenWorstDistance:G3}"));
    }

    private sealed class StoreReadyCheck(IObjectStore store) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            try
            {
                await store.ProbeAsync(cancellationToken);
                return HealthCheckResult.Healthy(store.Location);
            }
            catch (Exception e)
            {
                return HealthCheckResult.Unhealthy($"{store.Location}: {e.Message}", e);
            }
        }
    }
}
