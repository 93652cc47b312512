using IngestFleet.Messaging.Broker;
using IngestFleet.Messaging.Limits;
using IngestFleet.Messaging.Publishing;
using IngestFleet.ServiceDefaults;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace IngestFleet.Messaging;

/// <summary>The messaging side every fleet process shares, registered the same way by the worker and the gateway.</summary>
public static class MessagingServices
{
    /// <summary>Fleet, broker and limits options, each bound once and validated at start-up (limits by <see cref="LimitsValidator"/>).</summary>
    public static IServiceCollection AddMessagingOptions(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddValidatedOptions<FleetOptions>(configuration, FleetOptions.SectionName);
        services.AddValidatedOptions<RabbitMqOptions>(configuration, RabbitMqOptions.SectionName);
        services.AddValidatedOptions<LimitsOptions>(configuration, LimitsOptions.SectionName);
        services.AddSingleton<IValidateOptions<LimitsOptions>, LimitsValidator>();
        services.TryAddSingleton(TimeProvider.System);
        return services;
    }

    /// <summary>One broker link for this process (named for the broker's connection list), the raw-JSON publisher and
    /// the depth monitor.</summary>
    public static IServiceCollection AddBrokerServices(this IServiceCollection services, string clientName)
    {
        services.AddSingleton(sp => new BrokerLink(sp.GetRequiredService<RabbitMqOptions>(), clientName));
        services.AddSingleton<JobPublisher>();
        services.AddSingleton<IJobPublisher>(sp => sp.GetRequiredService<JobPublisher>());
        services.AddSingleton<QueueMonitor>();
        services.AddSingleton<IDepthSource>(sp => sp.GetRequiredService<QueueMonitor>());
        return services;
    }
}
