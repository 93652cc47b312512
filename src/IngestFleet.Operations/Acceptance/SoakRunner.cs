using IngestFleet.Contracts;
using IngestFleet.Embedding.Inference;
using IngestFleet.Messaging;
using IngestFleet.Messaging.Limits;
using IngestFleet.Messaging.Publishing;
using IngestFleet.Storage;
using IngestFleet.Worker.Node;
using IngestFleet.Worker.Processing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace IngestFleet.Operations.Acceptance;

/// <summary>How a soak runs: the curve, for how long, over which images, in which windows.</summary>
/// <param name="SaturationBatches">After the curve, this many full batches of the curve's most urgent class are published
/// at once, so the tuned cell (batch × threads) is measured on full batches whatever the curve's rates (a curve below
/// capacity never fills a batch).</param>
public sealed record SoakSettings(SoakCurve Curve, TimeSpan Duration, IReadOnlyList<string> ImageUris, TimeSpan Window, string Mode, int SaturationBatches = 40);

/// <summary>Progress while a soak runs.</summary>
public sealed record SoakProgress(TimeSpan Elapsed, TimeSpan Duration, long Published, long Done, long DeadLettered);

/// <summary>
/// Drives a production batch curve through a worker host running on this node (the in-process fleet in embedded mode,
/// or the real broker and S3 store): jobs are published at the curve's rate per class, every batch is observed, and
/// when the duration is up (or <c>stop</c> is cancelled, for a partial report) the published jobs are drained, the host
/// stopped, and the report built with the node's lifecycle as the fleet recorded it.
/// </summary>
public static class SoakRunner
{
    /// <summary>The tenant of every job a soak publishes.</summary>
    public const string Tenant = "soak";

    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(100);

    public static async Task<SoakReport> RunAsync(IHost host, SoakSettings settings, Action<SoakProgress>? progress, CancellationToken stop)
    {
        var sp = host.Services;
        var fleet = sp.GetRequiredService<FleetOptions>();
        foreach (var c in settings.Curve.Classes.Where(c => !fleet.Priorities.Contains(c)))
            throw new FormatException($"curve {settings.Curve.Name}: column {c} is not a priority class ({string.Join(", ", fleet.Priorities)})");
        if (settings.ImageUris.Count == 0) throw new ArgumentException("a soak needs at least one image", nameof(settings));
        var time = sp.GetRequiredService<TimeProvider>();
        await host.StartAsync(CancellationToken.None);
        var ledger = sp.GetRequiredService<FleetLedger>();
        var publisher = sp.GetRequiredService<IJobPublisher>();
        var embedder = sp.GetRequiredService<Embedder>();
        var lifecycle = sp.GetServices<IHostedService>().OfType<NodeLifecycle>().Single();
        var limits = PublishedLimits.Resolve(fleet, sp.GetRequiredService<LimitsOptions>());
        var run = Guid.NewGuid().ToString("N")[..8];

        using var observer = new SoakObserver(ledger, time, TimeSpan.FromSeconds(Math.Clamp(settings.Duration.TotalSeconds / 120, 1, 10)));
        var startedAt = time.GetUtcNow();
        var owed = new double[settings.Curve.Classes.Count];
        var published = settings.Curve.Classes.ToDictionary(c => c, _ => 0L, StringComparer.Ordinal);
        var startItems = ledger.Items;
        long next = 0;
        var completed = true;
        var lastProgress = TimeSpan.Zero;
        using var timer = new PeriodicTimer(Tick, time);
        try
        {
            while (true)
            {
                var elapsed = time.GetUtcNow() - startedAt;
                if (elapsed >= settings.Duration) break;
                var rates = settings.Curve.RatesAt(elapsed.TotalSeconds);
                var jobs = new List<EmbedCatalogImage>();
                for (var k = 0; k < owed.Length; k++)
                {
                    owed[k] += rates[k] * Tick.TotalSeconds;
                    for (; owed[k] >= 1; owed[k] -= 1)
                    {
                        var cls = settings.Curve.Classes[k];
                        jobs.Add(new EmbedCatalogImage
                        {
                            Tenant = Tenant, Shard = cls, ItemId = $"soak-{run}-{next}", Priority = cls,
                            Image = settings.ImageUris[(int)(next % settings.ImageUris.Count)],
                        });
                        next++;
                        published[cls]++;
                    }
                }
                if (jobs.Count > 0) await publisher.PublishAsync(jobs, null, stop);
                if (elapsed - lastProgress >= TimeSpan.FromSeconds(1))
                {
                    lastProgress = elapsed;
                    progress?.Invoke(new SoakProgress(elapsed, settings.Duration, published.Values.Sum(), ledger.Items - startItems, ledger.DeadLettered));
                }
                await timer.WaitForNextTickAsync(stop);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            completed = false;
        }

        // Drain what was published (bounded: a stopped run only waits briefly).
        completed = await DrainAsync(completed ? TimeSpan.FromSeconds(120) : TimeSpan.FromSeconds(10), CancellationToken.None) && completed;

        // Saturation: full batches back to back, the cell tune measured; the p95 gate reads them.
        double? saturationAt = null;
        if (completed && settings.SaturationBatches > 0)
        {
            var cls = settings.Curve.Classes.OrderBy(c => Array.IndexOf(fleet.Priorities, c)).First();
            saturationAt = (time.GetUtcNow() - startedAt).TotalSeconds;
            var jobs = Enumerable.Range(0, settings.SaturationBatches * fleet.BatchSize).Select(_ => new EmbedCatalogImage
            {
                Tenant = Tenant, Shard = cls, ItemId = $"soak-{run}-{next}", Priority = cls, Image = settings.ImageUris[(int)(next++ % settings.ImageUris.Count)],
            }).ToList();
            published[cls] += jobs.Count;
            try
            {
                await publisher.PublishAsync(jobs, null, stop);
                // Measured from here: while the backlog is handed over, publishing shares the cores with the first batches.
                saturationAt = (time.GetUtcNow() - startedAt).TotalSeconds;
                completed = await DrainAsync(TimeSpan.FromMinutes(10), stop);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                completed = false;
            }
        }

        async Task<bool> DrainAsync(TimeSpan limit, CancellationToken interrupt)
        {
            var total = published.Values.Sum();
            using var drain = CancellationTokenSource.CreateLinkedTokenSource(interrupt);
            drain.CancelAfter(limit);
            try
            {
                await ledger.WaitForAsync(startItems + total, done => progress?.Invoke(new SoakProgress(time.GetUtcNow() - startedAt, settings.Duration, total,
                    done - startItems, ledger.DeadLettered)), drain.Token);
                return true;
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }
        var endedAt = time.GetUtcNow();
        await host.StopAsync(CancellationToken.None);
        IngestFleet.ServiceDefaults.TelemetrySetup.FlushTelemetry(host.Services, TimeSpan.FromSeconds(30));
        var events = await NodeLifecycle.ReadAsync(sp.GetRequiredService<IObjectStore>(), lifecycle.NodeId, CancellationToken.None);
        var window = settings.Window > TimeSpan.Zero ? settings.Window : TimeSpan.FromSeconds(Math.Max(1, settings.Duration.TotalSeconds / 12));
        return SoakReportBuilder.Build(new SoakInputs(
            settings.Mode, settings.Curve.Name, startedAt, endedAt, settings.Duration.TotalSeconds, completed, lifecycle.NodeId, embedder, fleet.BatchSize,
            published.Where(kv => kv.Value > 0).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal),
            limits.Where(l => settings.Curve.Classes.Contains(l.Priority)).ToDictionary(l => l.Priority, l => l.WaitSloSeconds, StringComparer.Ordinal),
            observer.Batches.ToList(), observer.Swap.ToList(), events.ToList() /* every process on the node: the daemon's cold start and stops count for billing */, window.TotalSeconds)
        {
            SaturationStartSeconds = saturationAt,
        });
    }
}
