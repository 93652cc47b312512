using System.Diagnostics.Metrics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using IngestFleet.Messaging.Broker;
using IngestFleet.Messaging.Telemetry;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client.Exceptions;

namespace IngestFleet.Messaging.Limits;

/// <summary>
/// Reads queue depth cheaply and caches it for <see cref="LimitsOptions.SampleIntervalSeconds"/>. Ready messages and
/// consumers come from an AMQP passive declare (real time); unacked messages and the ack rate come from the management
/// API (<c>GET /api/queues/{vhost}/{queue}</c>, refreshed by the broker every few seconds; each configured management URL
/// in turn, see <see cref="RabbitMqOptions.ManagementUris"/>). If only the management API
/// is down, unacked counts as 0 and the sample still stands; if AMQP is down the snapshot carries the error.
/// The age of the oldest message is estimated by <see cref="EstimateWait"/>: depth ÷ ack rate (Little's law) while acks
/// flow, the time since messages started waiting while nothing is acked, and unknown without the management API.
/// </summary>
public sealed class QueueMonitor : IDepthSource, IDisposable
{
    private readonly BrokerLink _broker;
    private readonly RabbitMqOptions _rabbit;
    private readonly FleetOptions _fleet;
    private readonly TimeSpan _interval;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly HttpClient _http;
    private readonly Uri[] _managementUrls;
    private readonly BrokerTlsTrust _trust;
    private string? _managementProblem;
    private int _managementAnswered; // index of the management URL that last answered: asked first
    private readonly SemaphoreSlim _refresh = new(1, 1);
    private readonly Dictionary<string, DateTimeOffset> _backlogSince = new(StringComparer.Ordinal);
    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private DepthSnapshot? _last;
    private DateTimeOffset _parkedAt = DateTimeOffset.MinValue;

    /// <summary>How old the parked-queue counts may get before they are read again.</summary>
    private static readonly TimeSpan ParkedInterval = TimeSpan.FromSeconds(10);

    public QueueMonitor(BrokerLink broker, RabbitMqOptions rabbit, FleetOptions fleet, LimitsOptions limits, TimeProvider time, ILogger<QueueMonitor> logger,
        IMeterFactory? meters = null)
    {
        _broker = broker;
        _rabbit = rabbit;
        _fleet = fleet;
        _interval = TimeSpan.FromSeconds(limits.SampleIntervalSeconds);
        _time = time;
        _logger = logger;
#pragma warning disable CA2000 // the client owns its handler (disposeHandler: true) and is disposed with the monitor
        _trust = new BrokerTlsTrust(rabbit.Tls);
        _http = new HttpClient(BrokerEndpoints.ManagementHandler(_trust), disposeHandler: true) { Timeout = TimeSpan.FromSeconds(3) };
#pragma warning restore CA2000
        _managementUrls = rabbit.ManagementUrls().Select(u => new Uri(u.TrimEnd('/') + "/")).ToArray();
        var amqp = new Uri(rabbit.Uri);
        var user = Uri.UnescapeDataString(amqp.UserInfo.Split(':')[0] is { Length: > 0 } u ? u : "guest");
        var pass = amqp.UserInfo.Contains(':') ? Uri.UnescapeDataString(amqp.UserInfo[(amqp.UserInfo.IndexOf(':') + 1)..]) : "guest";
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{pass}")));
        Vhost = Uri.EscapeDataString(amqp.AbsolutePath.Length <= 1 ? "/" : Uri.UnescapeDataString(amqp.AbsolutePath[1..]));

        // The gauges belong to this monitor's own meter (from the host's IMeterFactory when there is one), so they are
        // registered once per monitor and go away with it, instead of piling up on a static meter.
        _meter = meters?.Create(MessagingMetrics.MeterName) ?? new Meter(MessagingMetrics.MeterName);
        _ownsMeter = meters is null;
        _meter.CreateObservableGauge("ingestfleet.queue.depth", () => Observe(s => s.Depth), "{message}",
            "Ready plus unacknowledged messages per priority queue (last sample)");
        _meter.CreateObservableGauge("ingestfleet.queue.consumers", () => Observe(s => s.Consumers), "{consumer}",
            "Consumers per priority queue (last sample)");
        _meter.CreateObservableGauge("ingestfleet.queue.parked",
            () => Last is { } s ? s.Parked.Select(kv => new Measurement<long>(kv.Value, new KeyValuePair<string, object?>("messaging.destination.name", kv.Key))) : [],
            "{message}", "Messages in the poison queue and MassTransit _error/_skipped queues, waiting for the poison drain");
        _meter.CreateObservableGauge("ingestfleet.queue.estimated_wait", () => Observe(s => s.EstimatedWaitSeconds), "s",
            "Estimated age of the oldest message per priority queue (last sample)");
    }

    private string Vhost { get; }

    /// <summary>Why the last read of the management API got no answer from any of its URLs (a refused certificate is
    /// named as such); null once one answered.</summary>
    public string? ManagementProblem => Volatile.Read(ref _managementProblem);

    /// <summary>The last snapshot, without touching the broker (null before the first read).</summary>
    public DepthSnapshot? Last => Volatile.Read(ref _last);

    /// <summary>A snapshot no older than the sample interval (read from the broker when the cached one is stale).</summary>
    public async Task<DepthSnapshot> GetAsync(CancellationToken cancellationToken, bool fresh = false)
    {
        if (!fresh && Last is { } cached && _time.GetUtcNow() - cached.At < _interval) return cached;
        await _refresh.WaitAsync(cancellationToken);
        try
        {
            if (!fresh && Last is { } again && _time.GetUtcNow() - again.At < _interval) return again;
            var snapshot = await ReadAsync(cancellationToken);
            Volatile.Write(ref _last, snapshot);
            return snapshot;
        }
        finally
        {
            _refresh.Release();
        }
    }

    private async Task<DepthSnapshot> ReadAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var samples = new Dictionary<string, QueueSample>(StringComparer.Ordinal);
        try
        {
            var channel = await _broker.OpenChannelAsync(confirms: false, cancellationToken);
            try
            {
                foreach (var priority in _fleet.Priorities)
                {
                    var queue = _fleet.QueueName(priority);
                    uint ready, consumers;
                    try
                    {
                        var ok = await channel.QueueDeclarePassiveAsync(queue, cancellationToken);
                        (ready, consumers) = (ok.MessageCount, ok.ConsumerCount);
                    }
                    catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
                    {
                        // Not declared yet (no worker or producer has run): it holds nothing. The 404 closed the channel.
                        (ready, consumers) = (0, 0);
                        await channel.DisposeAsync();
                        channel = await _broker.OpenChannelAsync(confirms: false, cancellationToken);
                    }
                    var (unacked, rate, known) = await ManagementAsync(queue, cancellationToken);
                    var depth = ready + unacked;
                    if (ready == 0) _backlogSince.Remove(queue);
                    else if (!_backlogSince.ContainsKey(queue)) _backlogSince[queue] = now;
                    var backlogAge = _backlogSince.TryGetValue(queue, out var since) ? now - since : TimeSpan.Zero;
                    samples[priority] = new QueueSample(queue, ready, unacked, consumers, rate, EstimateWait(ready, depth, rate, known, backlogAge), now);
                }
                // Parked counts are for operators (gauge, limits --live), not admission: read them at most every
                // ParkedInterval, so the gateway's per-second sample does not pay nine more declares each time.
                if (_last is { } previous && now - _parkedAt < ParkedInterval)
                    return new DepthSnapshot(samples, null, now) { Parked = previous.Parked };
                var parked = new Dictionary<string, long>(StringComparer.Ordinal);
                _parkedAt = now;
                foreach (var queue in FleetTopology.ParkedQueueNames(_fleet))
                {
                    try
                    {
                        parked[queue] = (await channel.QueueDeclarePassiveAsync(queue, cancellationToken)).MessageCount;
                    }
                    catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
                    {
                        await channel.DisposeAsync(); // the queue does not exist: nothing is parked there
                        channel = await _broker.OpenChannelAsync(confirms: false, cancellationToken);
                    }
                }
                return new DepthSnapshot(samples, null, now) { Parked = parked };
            }
            finally
            {
                await channel.DisposeAsync();
            }
        }
        catch (Exception e) when (e is BrokerUnreachableException or OperationInterruptedException or AlreadyClosedException
                                      or System.Net.Sockets.SocketException or IOException or TimeoutException)
        {
            var reason = $"cannot reach RabbitMQ at {_broker.Endpoint}: {e.Message}";
            _logger.LogWarning("queue depth unavailable: {Reason}", reason);
            return new DepthSnapshot(samples, reason, now);
        }
    }

    private async Task<(long Unacked, double AckRate, bool Known)> ManagementAsync(string queue, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await ManagementGetAsync($"api/queues/{Vhost}/{Uri.EscapeDataString(queue)}", cancellationToken);
            if (response is not { IsSuccessStatusCode: true }) return (0, 0, false);
            using var doc = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(cancellationToken), default, cancellationToken);
            var root = doc.RootElement;
            var unacked = root.TryGetProperty("messages_unacknowledged", out var u) && u.TryGetInt64(out var uv) ? uv : 0;
            var rate = root.TryGetProperty("message_stats", out var stats) && stats.TryGetProperty("ack_details", out var ack)
                       && ack.TryGetProperty("rate", out var r) && r.TryGetDouble(out var rv) ? rv : 0;
            return (unacked, rate, true);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException && !cancellationToken.IsCancellationRequested)
        {
            Volatile.Write(ref _managementProblem, e.Message);
            return (0, 0, false); // the management plugin is optional for admission; depth falls back to ready messages
        }
    }

    /// <summary>Asks the management API whether it answers (<c>GET /api/overview</c>, every URL in turn): null when one
    /// did, else why none did (<see cref="ManagementProblem"/>).</summary>
    public async Task<string?> ProbeManagementAsync(CancellationToken cancellationToken)
    {
        using var response = await ManagementGetAsync("api/overview", cancellationToken);
        return ManagementProblem;
    }

    /// <summary>One GET, to each management URL in turn (one per cluster node), the one that answered last first. A node
    /// that is down (refused, timed out, 5xx) or whose certificate is refused passes to the next; any other answer (404 for
    /// a queue not declared yet) is the cluster's. Null when none answered.</summary>
    private async Task<HttpResponseMessage?> ManagementGetAsync(string relative, CancellationToken cancellationToken)
    {
        var first = Volatile.Read(ref _managementAnswered);
        for (var i = 0; i < _managementUrls.Length; i++)
        {
            var index = (first + i) % _managementUrls.Length;
            HttpResponseMessage response;
            try
            {
                response = await _http.GetAsync(new Uri(_managementUrls[index], relative), cancellationToken);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                var why = e.InnerException is System.Security.Authentication.AuthenticationException && _trust.LastRefusal is { } refusal
                    ? $"TLS refused: {refusal}" : e.Message;
                Volatile.Write(ref _managementProblem, $"{_managementUrls[index]}: {why}");
                continue;
            }
            if ((int)response.StatusCode >= 500)
            {
                Volatile.Write(ref _managementProblem, $"{_managementUrls[index]} answered {(int)response.StatusCode}");
                response.Dispose();
                continue;
            }
            Volatile.Write(ref _managementAnswered, index);
            // 404 is an answer (a queue not declared yet); 401/403 and the like mean this user cannot read the API.
            Volatile.Write(ref _managementProblem, response.IsSuccessStatusCode || response.StatusCode == System.Net.HttpStatusCode.NotFound ? null
                : $"{_managementUrls[index]} answered {(int)response.StatusCode} {response.ReasonPhrase} (the URI's user needs the management or monitoring tag)");
            return response;
        }
        return null;
    }

    /// <summary>
    /// Estimated age of the oldest waiting message, in seconds: 0 when nothing is waiting (ready = 0, whatever is in
    /// flight); depth ÷ ack rate while acks flow; while messages wait and nothing is acked (stalled), how long they have
    /// waited; and -1 (unknown, no wait-SLO decision) when the management API gave no ack rate.
    /// </summary>
    public static double EstimateWait(long ready, long depth, double ackRate, bool ackRateKnown, TimeSpan backlogAge)
    {
        if (ready == 0) return 0;
        if (!ackRateKnown) return -1;
        return ackRate > 0.01 ? depth / ackRate : backlogAge.TotalSeconds;
    }

    private IEnumerable<Measurement<T>> Observe<T>(Func<QueueSample, T> value) where T : struct =>
        Last is { } s
            ? s.Queues.Values.Select(q => new Measurement<T>(value(q), new KeyValuePair<string, object?>("messaging.destination.name", q.Queue)))
            : [];

    public void Dispose()
    {
        _http.Dispose();
        _refresh.Dispose();
        if (_ownsMeter) _meter.Dispose();
    }
}
