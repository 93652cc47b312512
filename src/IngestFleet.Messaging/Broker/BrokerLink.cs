using RabbitMQ.Client;

namespace IngestFleet.Messaging.Broker;

/// <summary>
/// One lazily opened RabbitMQ connection for the parts that speak AMQP directly (the gateway's publisher, the depth
/// monitor, the shedder). A failed or closed connection is dropped and reopened on the next call, so a broker that
/// comes back is picked up without a restart; each call fails fast (connect timeout) while it is down.
/// </summary>
public sealed class BrokerLink(RabbitMqOptions options, string clientName) : IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private IConnection? _connection;

    public string Endpoint => Redacted(options.Uri);

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
            var factory = new ConnectionFactory
            {
                Uri = new Uri(options.Uri),
                ClientProvidedName = clientName,
                RequestedConnectionTimeout = TimeSpan.FromSeconds(3),
                AutomaticRecoveryEnabled = false,
            };
            _connection = await factory.CreateConnectionAsync(cancellationToken);
            return _connection;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>A connection string with its credentials replaced by <c>***</c>, for logs and messages.</summary>
    public static string Redacted(string connection) =>
        Uri.TryCreate(connection, UriKind.Absolute, out var u) && u.UserInfo.Length > 0 ? connection.Replace(u.UserInfo + "@", "***@", StringComparison.Ordinal) : connection;

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null) await _connection.DisposeAsync();
        _gate.Dispose();
    }
}
