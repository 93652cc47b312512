using RabbitMQ.Client;

namespace IngestFleet.Messaging.Broker;

/// <summary>
/// One lazily opened RabbitMQ connection for the parts that speak AMQP directly (the gateway's publisher, the depth
/// monitor, the shedder, the poison drain). A failed or closed connection is dropped and reopened on the next call, to
/// any node of the configured list that answers (<see cref="BrokerEndpoints"/>), so the loss of one cluster node costs
/// one failed call, and a broker that comes back is picked up without a restart. While no node answers, connecting
/// backs off: after a failed attempt the calls of the next 100 ms, doubling per failure up to 2 s, fail at once with the
/// last attempt's error instead of each trying every node again (a gateway under load would otherwise open a connection
/// attempt per request).
/// </summary>
public sealed class BrokerLink(RabbitMqOptions options, string clientName, TimeProvider? time = null) : IAsyncDisposable
{
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(2);
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private IConnection? _connection;
    private int _failures;
    private DateTimeOffset _notBefore = DateTimeOffset.MinValue;
    private Exception? _lastFailure;

    private Publishing.PublisherChannels? _publisherChannels;

    /// <summary>The link's shared confirming channels for publishing (created on first use, closed with the link).</summary>
    public Publishing.PublisherChannels PublisherChannels =>
        LazyInitializer.EnsureInitialized(ref _publisherChannels, () => new Publishing.PublisherChannels(this));

    /// <summary>Connection attempts made so far (each tries every node of the list).</summary>
    public int ConnectAttempts { get; private set; }

    public string Endpoint => BrokerEndpoints.Describe(options);

    /// <summary>The broker user this link logs in as: the <c>user_id</c> every message it publishes carries.</summary>
    public string UserName { get; } = Publishing.PublisherIdentity.UserOf(new Uri(options.Uri));

    public async Task<IChannel> OpenChannelAsync(bool confirms, CancellationToken cancellationToken)
    {
        var connection = await ConnectionAsync(cancellationToken);
        return await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: confirms, publisherConfirmationTrackingEnabled: confirms), cancellationToken);
    }

    private async Task<IConnection> ConnectionAsync(CancellationToken cancellationToken)
    {
        if (_connection is { IsOpen: true } open) return open;
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_connection is { IsOpen: true } again) return again;
            if (_connection is not null) await _connection.DisposeAsync();
            _connection = null;
            if (_lastFailure is { } last && _time.GetUtcNow() < _notBefore)
                throw last is BrokerTlsException tls ? new BrokerTlsException(tls.Message, tls) : new RabbitMQ.Client.Exceptions.BrokerUnreachableException(last);
            try
            {
                ConnectAttempts++;
                _connection = await BrokerEndpoints.ConnectAsync(options, clientName, TimeSpan.FromSeconds(3), cancellationToken);
            }
            catch (RabbitMQ.Client.Exceptions.BrokerUnreachableException e)
            {
                _lastFailure = e;
                var backoff = TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, FirstBackoff.Ticks << Math.Min(_failures, 10)));
                _failures++;
                _notBefore = _time.GetUtcNow() + backoff;
                throw;
            }
            (_failures, _lastFailure) = (0, null);
            return _connection;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>A connection string with its credentials replaced by <c>***</c>, for logs and messages: rebuilt from the
    /// scheme, host, port and path, so no spelling of the user info survives (a password <c>System.Uri</c> re-escapes,
    /// such as one with a space or braces, is not found by replacing <see cref="Uri.UserInfo"/> in the original text).
    /// A string that does not parse but holds an <c>@</c> is withheld whole.</summary>
    public static string Redacted(string connection)
    {
        if (!Uri.TryCreate(connection, UriKind.Absolute, out var u))
            return connection.Contains('@', StringComparison.Ordinal) ? "(a connection string that does not parse; withheld)" : connection;
        var credentials = u.UserInfo.Length > 0 || connection.Contains('@', StringComparison.Ordinal) ? "***@" : "";
        return $"{u.Scheme}://{credentials}{u.Authority}{u.PathAndQuery}";
    }

    public async ValueTask DisposeAsync()
    {
        if (_publisherChannels is not null) await _publisherChannels.DisposeAsync();
        if (_connection is not null) await _connection.DisposeAsync();
        _gate.Dispose();
    }
}
