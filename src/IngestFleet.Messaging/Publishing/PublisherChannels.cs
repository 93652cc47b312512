using IngestFleet.Messaging.Broker;
using RabbitMQ.Client;

namespace IngestFleet.Messaging.Publishing;

/// <summary>
/// A few long-lived confirming channels on one broker link (<see cref="BrokerLink.PublisherChannels"/>), shared by every
/// concurrent publish over it. A
/// gateway answering one job per request no longer opens a channel per request (channel.open, confirm.select and
/// channel.close are three round trips and broker work each time): concurrent requests publish on the same channels and
/// the broker confirms whatever is outstanding on a channel at once (basic.ack with multiple), so confirms are batched
/// across requests while each publish still waits for its own. A channel the broker closed (a lost connection) is
/// replaced at its next use. Sharing has one cost: a channel-level error fails every publish in flight on that channel,
/// not only the one that caused it; each caller still learns which of its jobs were not confirmed (the gateway answers
/// 503 listing them), so nothing is accepted unconfirmed. The fleet's publishes cannot cause one (the default exchange,
/// <c>user_id</c> always the connection's own user; a full queue or an unroutable job is a per-message nack or return).
/// </summary>
public sealed class PublisherChannels(BrokerLink broker, int count = PublisherChannels.DefaultCount) : IAsyncDisposable
{
    /// <summary>Channels per process. One channel's publishes are framed one after another by the client; a few let
    /// publishes of concurrent requests go out in parallel.</summary>
    public const int DefaultCount = 4;

    private readonly IChannel?[] _channels = new IChannel?[Math.Max(1, count)];
    private readonly SemaphoreSlim _opening = new(1, 1);
    private int _next = -1;

    /// <summary>An open confirming channel (round robin); not the caller's to close.</summary>
    public async Task<IChannel> GetAsync(CancellationToken cancellationToken)
    {
        var slot = (int)((uint)Interlocked.Increment(ref _next) % (uint)_channels.Length);
        if (Volatile.Read(ref _channels[slot]) is { IsOpen: true } open) return open;
        await _opening.WaitAsync(cancellationToken);
        try
        {
            if (_channels[slot] is { IsOpen: true } again) return again;
            if (_channels[slot] is { } closed)
            {
                _channels[slot] = null;
                await DisposeQuietlyAsync(closed);
            }
            var channel = await broker.OpenChannelAsync(confirms: true, cancellationToken);
            Volatile.Write(ref _channels[slot], channel);
            return channel;
        }
        finally
        {
            _opening.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        for (var i = 0; i < _channels.Length; i++)
            if (Interlocked.Exchange(ref _channels[i], null) is { } channel)
                await DisposeQuietlyAsync(channel);
        _opening.Dispose();
    }

    private static async Task DisposeQuietlyAsync(IChannel channel)
    {
#pragma warning disable CA1031 // a channel the broker already closed may throw on close; it is gone either way
        try { await channel.DisposeAsync(); } catch { /* already closed */ }
#pragma warning restore CA1031
    }
}
