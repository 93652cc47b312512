using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace IngestFleet.ServiceDefaults;

/// <summary>What every IngestFleet host adds first (eShop's ServiceDefaults): configuration from the environment,
/// OpenTelemetry by the standard <c>OTEL_*</c> variables, and the default health checks.</summary>
public static class ServiceDefaultsExtensions
{
    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder, string serviceName) where TBuilder : IHostApplicationBuilder
    {
        builder.Configuration.AddEnvironmentVariables();
        builder.Services.AddIngestFleetTelemetry(serviceName);
        builder.Services.AddDefaultHealthChecks();
        return builder;
    }

    /// <summary>Binds an options class once from its section, validates its DataAnnotations (and any registered
    /// <see cref="IValidateOptions{TOptions}"/>) at start-up, and registers the bound value itself as a singleton.</summary>
    public static OptionsBuilder<T> AddValidatedOptions<T>(this IServiceCollection services, IConfiguration configuration, string section) where T : class
    {
        var builder = services.AddOptions<T>().Bind(configuration.GetSection(section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<T>>().Value);
        return builder;
    }
}
