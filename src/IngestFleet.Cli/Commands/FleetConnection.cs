using System.CommandLine;
using IngestFleet.Storage.S3;
using IngestFleet.Worker;
using IngestFleet.Messaging;
using Microsoft.Extensions.Configuration;
using IngestFleet.Embedding.Models;
using IngestFleet.Worker.Hosting;
using IngestFleet.Messaging.Publishing;
using IngestFleet.Messaging.Broker;

namespace IngestFleet.Cli.Commands;

/// <summary>
/// Broker and S3 settings for commands that talk to the fleet: appsettings.json in the working directory, then
/// environment variables (<c>IngestFleet__RabbitMq__Uri</c>, <c>IngestFleet__S3__ServiceUrl</c>, …), then flags.
/// </summary>
internal sealed class FleetConnection
{
    public Option<string?> Broker { get; } = new("--broker") { Description = "RabbitMQ URI (else IngestFleet__RabbitMq__Uri, else amqp://guest:guest@127.0.0.1:5672/)" };
    public Option<string?> BrokerNodes { get; } = new("--broker-nodes") { Description = "RabbitMQ cluster nodes, host:port,host:port (else IngestFleet__RabbitMq__ClusterNodes__0…; the URI's user, vhost and scheme apply)" };
    public Option<string?> S3Endpoint { get; } = new("--s3-endpoint") { Description = "S3-compatible endpoint URL (else IngestFleet__S3__ServiceUrl; empty means AWS)" };
    public Option<string?> Bucket { get; } = new("--bucket") { Description = "Bucket for vectors, dead letters and shed jobs (else IngestFleet__S3__Bucket)" };

    public void AddTo(Command command)
    {
        command.Options.Add(Broker);
        command.Options.Add(BrokerNodes);
        command.Options.Add(S3Endpoint);
        command.Options.Add(Bucket);
    }

    public IReadOnlyDictionary<string, string?> Overrides(ParseResult p)
    {
        var d = new Dictionary<string, string?>();
        if (p.GetValue(Broker) is { } b) d[$"{RabbitMqOptions.SectionName}:Uri"] = b;
        if (p.GetValue(BrokerNodes) is { } nodes)
        {
            // The flag's list replaces a configured one whole: entries past the first are blanked (empty entries are skipped).
            d[$"{RabbitMqOptions.SectionName}:ClusterNodes:0"] = nodes;
            for (var i = 1; i < 16; i++) d[$"{RabbitMqOptions.SectionName}:ClusterNodes:{i}"] = "";
        }
        if (p.GetValue(S3Endpoint) is { } s) d[$"{S3Options.SectionName}:ServiceUrl"] = s;
        if (p.GetValue(Bucket) is { } k) d[$"{S3Options.SectionName}:Bucket"] = k;
        return d;
    }

    public static IConfigurationRoot Configuration(IReadOnlyDictionary<string, string?> overrides) => new ConfigurationBuilder()
        .AddJsonFile(Path.Combine(Directory.GetCurrentDirectory(), "appsettings.json"), optional: true)
        .AddEnvironmentVariables()
        .AddInMemoryCollection(overrides)
        .Build();

    public static T Bind<T>(IConfiguration config, string section) where T : new() => config.GetSection(section).Get<T>() ?? new T();
}
