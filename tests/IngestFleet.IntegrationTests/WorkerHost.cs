using IngestFleet.Worker.Bundles;
using IngestFleet.Worker.Consumers;
using IngestFleet.Worker.Processing;
using IngestFleet.Worker.Hosting;
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
        // The one worker host factory every entry point uses; the test's settings are its command-line options.
        var options = world.Settings(batch).ToDictionary(kv => kv.Key.Replace("__", ":", StringComparison.Ordinal), kv => (string?)kv.Value);
        foreach (var (k, v) in extra ?? []) options[k] = v;
        if (model is not null) options[WorkerModels.ModelKey] = model;
        var host = await WorkerHostFactory.BuildAsync(new WorkerHostSpec { Options = options, MinimumLevel = LogLevel.Warning }, CancellationToken.None);
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
