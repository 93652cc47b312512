using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Serilog;
using Microsoft.Extensions.Options;

namespace IngestFleet.ServiceDefaults;

/// <summary>What every IngestFleet host adds (eShop's ServiceDefaults): OpenTelemetry by the standard <c>OTEL_*</c>
/// variables, the default health checks and the optional file log. It adds no configuration source: each deployable's
/// host factory owns the one precedence (command line, environment, appsettings, defaults).</summary>
public static class ServiceDefaultsExtensions
{
    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder, string serviceName) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddIngestFleetTelemetry(serviceName);
        builder.Services.AddDefaultHealthChecks();
        builder.Services.AddValidatedOptions<FileLoggingOptions>(builder.Configuration, FileLoggingOptions.SectionName);
        builder.AddFileLogging();
        return builder;
    }

    /// <summary>With <c>IngestFleet:Logging:File</c> set, also writes the log to that file, rolled over by size
    /// (Serilog's file sink), so a node without a log collector never fills its disk; the console then carries
    /// warnings and errors only.</summary>
    public static void AddFileLogging(this IHostApplicationBuilder builder)
    {
        var options = builder.Configuration.GetSection(FileLoggingOptions.SectionName).Get<FileLoggingOptions>() ?? new FileLoggingOptions();
        if (string.IsNullOrWhiteSpace(options.File)) return;
        var logger = new Serilog.LoggerConfiguration()
            .MinimumLevel.Verbose() // levels are filtered by Microsoft.Extensions.Logging's own configuration
            .WriteTo.File(options.File, rollOnFileSizeLimit: true, fileSizeLimitBytes: options.FileSizeLimitMb * 1024L * 1024,
                retainedFileCountLimit: options.RetainedFiles, shared: false, flushToDiskInterval: TimeSpan.FromSeconds(1))
            .CreateLogger();
        builder.Logging.AddSerilog(logger, dispose: true);
        // The file has the whole log; the console (launchd's stdout capture on a Mac, which nothing rotates while it is
        // open) keeps warnings and errors only: start-up failures and what needs a person.
        builder.Logging.AddFilter<Microsoft.Extensions.Logging.Console.ConsoleLoggerProvider>(null, LogLevel.Warning);
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
