using IngestFleet.Embedding.Models;
using IngestFleet.Worker.Consumers;
using IngestFleet.Worker.Processing;
using IngestFleet.Worker.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace IngestFleet.IntegrationTests;

/// <summary>A real worker (generic host, MassTransit on RabbitMQ, S3 store, ORT) running inside the test process.</summary>
public sealed class WorkerHost : IAsyncDisposable
{
    private readonly IHost _host;

    private WorkerHost(IHost host) => _host = host;

    public FleetLedger Ledger => _host.Services.GetRequiredService<FleetLedger>();
    public IServiceProvider Services => _host.Services;

    /// <param name="world">The test's broker queues and bucket.</param>
    /// <param name="batch">Batch size.</param>
    /// <param name="extra">More configuration.</param>
    /// <param name="model">A model argument as the worker takes it (a bundle's s3:// address); default the bundled clip-tiny-r1.</param>
    public static async Task<WorkerHost> StartAsync(FleetWorld world, int batch = 16, Dictionary<string, string?>? extra = null, string? model = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Configuration.AddInMemoryCollection(world.Settings(batch).ToDictionary(kv => kv.Key.Replace("__", ":", StringComparison.Ordinal), kv => (string?)kv.Value));
        if (extra is not null) builder.Configuration.AddInMemoryCollection(extra);
        var manifest = model is null
            ? ManifestLoader.Load(Path.Combine(AppContext.BaseDirectory, "models", "clip-tiny-r1"))
            : await IngestFleet.Worker.Bundles.WorkerModels.LoadAsync(model, builder.Configuration, CancellationToken.None);
        builder.AddIngestFleetWorker(FleetTransport.RabbitMq, manifest);
        var host = builder.Build();
        await host.StartAsync();
        return new WorkerHost(host);
    }

    public async Task WaitForItemsAsync(long items, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await Ledger.WaitForAsync(items, null, cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"worker finished {Ledger.Items} of {items} items in {timeout}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync(TimeSpan.FromSeconds(30));
        _host.Dispose();
    }
}
