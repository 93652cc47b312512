using RabbitMQ.Client;

namespace IngestFleet.Messaging.Broker;

/// <summary>
/// One lazily opened RabbitMQ connection for the parts that speak AMQP directly (the gateway's publisher, the depth
/// monitor, the shedder, the poison drain). A failed or closed connection is dropped and reopened on the next call, to
/// any node of the configured list that answers (<see cref="BrokerEndpoints"/>), so the loss of one cluster node costs
/// one failed call, and a broker that comes back is picked up without a restart; each call fails fast (connect timeout)
/// while no node answers.
/// </summary>
public sealed class BrokerLink(RabbitMqOptions options, string clientName) : IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private IConnection? _connection;

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
            _connection = await BrokerEndpoints.ConnectAsync(options, clientName, TimeSpan.FromSeconds(3), cancellationToken);
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
        if (_connection is not null) await _connection.DisposeAsync();
        _gate.Dispose();
    }
}
