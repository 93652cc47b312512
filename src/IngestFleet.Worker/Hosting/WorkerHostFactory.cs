using IngestFleet.ServiceDefaults;
using IngestFleet.Worker.Bundles;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace IngestFleet.Worker.Hosting;

/// <summary>What one worker host is built from. <see cref="Options"/> are the entry point's command-line options as
/// configuration keys (<c>IngestFleet:RabbitMq:Uri</c> for <c>--broker</c>, <c>IngestFleet:Model</c> for <c>--model</c>, …).</summary>
public sealed record WorkerHostSpec
{
    public FleetTransport Transport { get; init; } = FleetTransport.RabbitMq;

    /// <summary>The service name in telemetry and logs.</summary>
    public string ServiceName { get; init; } = "ingestfleet-worker";

    /// <summary>Raw arguments in .NET's command-line configuration form (<c>--IngestFleet:Fleet:BatchSize=8</c>).</summary>
    public IReadOnlyList<string> Args { get; init; } = [];

    /// <summary>Parsed command-line options; they win over everything else.</summary>
    public IReadOnlyDictionary<string, string?> Options { get; init; } = new Dictionary<string, string?>();

    /// <summary>The embedded mode's local store (vectors/ and dead-letter/ in a folder).</summary>
    public string? LocalStoreDirectory { get; init; }

    /// <summary>The default minimum log level (configuration's <c>Logging:LogLevel</c> still applies).</summary>
    public LogLevel? MinimumLevel { get; init; }
}

/// <summary>
/// The one way to build a worker host, used by every entry point (<c>ingestfleet-worker</c>, <c>ingestfleet worker</c>,
/// <c>ingest</c>, <c>soak</c> and the integration tests). Configuration precedence, highest first: command-line options,
/// environment variables, <c>appsettings.{Environment}.json</c>, <c>appsettings.json</c> (in the working directory),
/// the options classes' defaults. The model is named by <c>IngestFleet:Model</c> and loaded once into a typed
/// <see cref="LoadedModel"/>; nothing is written back into configuration.
/// </summary>
public static class WorkerHostFactory
{
    /// <summary>A builder whose configuration is complete and nothing else: the node doctor reads it as the worker would.</summary>
    public static HostApplicationBuilder CreateBuilder(WorkerHostSpec spec)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = [.. spec.Args],
            ContentRootPath = Directory.GetCurrentDirectory(),
        });
        builder.Configuration.AddInMemoryCollection(spec.Options);
        if (spec.MinimumLevel is { } level) builder.Logging.SetMinimumLevel(level);
        return builder;
    }

    /// <summary>Builds the worker host on a builder from <see cref="CreateBuilder"/>: service defaults, the model
    /// (a local manifest or an s3:// bundle), the worker's composition and the drain budget.</summary>
    /// <exception cref="ModelBundleException">The s3:// bundle is missing or altered.</exception>
    /// <exception cref="Profiles.ProfileException">The tuned profile is unreadable or for another model.</exception>
    public static async Task<IHost> BuildAsync(HostApplicationBuilder builder, WorkerHostSpec spec, CancellationToken cancellationToken)
    {
        builder.AddServiceDefaults(spec.ServiceName);
        var model = await WorkerModels.LoadAsync(builder.Configuration, cancellationToken);
        builder.AddIngestFleetWorker(spec.Transport, model, spec.LocalStoreDirectory);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = WorkerHosting.DrainBudget + TimeSpan.FromSeconds(5));
        return builder.Build();
    }

    public static Task<IHost> BuildAsync(WorkerHostSpec spec, CancellationToken cancellationToken) =>
        BuildAsync(CreateBuilder(spec), spec, cancellationToken);
}
