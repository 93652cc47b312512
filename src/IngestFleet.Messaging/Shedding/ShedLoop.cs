using IngestFleet.Messaging.Limits;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace IngestFleet.Messaging.Shedding;

/// <summary>Runs the shedder every <see cref="LimitsOptions.ShedIntervalSeconds"/> in a fleet worker, unless
/// <see cref="LimitsOptions.ShedEnabled"/> is false: then this worker never sheds (another process may).</summary>
public sealed class ShedLoop(Shedder shedder, LimitsOptions options, ILogger<ShedLoop> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.ShedEnabled)
        {
            logger.LogInformation("shedding is off in this process (IngestFleet:Limits:ShedEnabled=false)");
            return;
        }
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.ShedIntervalSeconds));
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await shedder.RunOnceAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogError(e, "shedding pass failed; retrying in {Seconds} s", options.ShedIntervalSeconds);
            }
        }
    }
}
