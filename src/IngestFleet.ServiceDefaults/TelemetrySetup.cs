using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace IngestFleet.ServiceDefaults;

/// <summary>
/// OpenTelemetry for the worker and the gateway, configured only by the standard variables:
/// <list type="bullet">
/// <item><c>OTEL_SDK_DISABLED=true</c>: nothing is set up.</item>
/// <item><c>OTEL_TRACES_EXPORTER</c> / <c>OTEL_METRICS_EXPORTER</c>: <c>otlp</c>, <c>console</c>, <c>none</c>, or a comma list.
/// Unset: <c>otlp</c> when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> (or a signal-specific endpoint) is set, else <c>none</c>
/// (off for local use).</item>
/// <item><c>OTEL_EXPORTER_OTLP_ENDPOINT</c>, <c>_PROTOCOL</c>, <c>_HEADERS</c>, <c>OTEL_SERVICE_NAME</c>,
/// <c>OTEL_RESOURCE_ATTRIBUTES</c>, <c>OTEL_METRIC_EXPORT_INTERVAL</c>: read by the SDK and the OTLP exporter themselves.</item>
/// </list>
/// Sources and meters: IngestFleet (batch spans, GenAI histograms, counters) and MassTransit's own.
/// </summary>
public static class TelemetrySetup
{
    /// <summary>The fleet's own ActivitySource and Meter name.</summary>
    public const string FleetSourceName = "IngestFleet";

    public static readonly string[] Sources = [FleetSourceName, "MassTransit"];

    public static IServiceCollection AddIngestFleetTelemetry(this IServiceCollection services, string defaultServiceName,
        Func<string, string?>? environment = null)
    {
        var env = environment ?? Environment.GetEnvironmentVariable;
        if (string.Equals(env("OTEL_SDK_DISABLED"), "true", StringComparison.OrdinalIgnoreCase)) return services;
        var traces = Exporters(env("OTEL_TRACES_EXPORTER"), env, "TRACES");
        var metrics = Exporters(env("OTEL_METRICS_EXPORTER"), env, "METRICS");
        if (traces.Count == 0 && metrics.Count == 0) return services;

        var otel = services.AddOpenTelemetry().ConfigureResource(r => r.AddService(env("OTEL_SERVICE_NAME") ?? defaultServiceName));
        if (traces.Count > 0)
            otel.WithTracing(t =>
            {
                t.AddSource(Sources);
                if (traces.Contains("otlp")) t.AddOtlpExporter();
                if (traces.Contains("console")) t.AddConsoleExporter();
            });
        if (metrics.Count > 0)
            otel.WithMetrics(m =>
            {
                m.AddMeter(Sources);
                if (metrics.Contains("otlp")) m.AddOtlpExporter();
                if (metrics.Contains("console")) m.AddConsoleExporter();
            });
        return services;
    }

    /// <summary>Exports what the providers still hold, waiting up to <paramref name="timeout"/>: a short-lived command
    /// (ingest, a soak) ends right after its work, and disposing the providers alone gives the last export a few
    /// seconds at most, which a loaded machine does not always meet.</summary>
    public static void FlushTelemetry(this IServiceProvider services, TimeSpan timeout)
    {
        var ms = (int)timeout.TotalMilliseconds;
        services.GetService<OpenTelemetry.Trace.TracerProvider>()?.ForceFlush(ms);
        services.GetService<OpenTelemetry.Metrics.MeterProvider>()?.ForceFlush(ms);
    }

    /// <summary>The exporters one signal asks for; unknown names are refused so a typo does not silently turn telemetry off.</summary>
    public static HashSet<string> Exporters(string? value, Func<string, string?> env, string signal)
    {
        if (string.IsNullOrWhiteSpace(value))
            return !string.IsNullOrEmpty(env("OTEL_EXPORTER_OTLP_ENDPOINT")) || !string.IsNullOrEmpty(env($"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT"))
                ? ["otlp"] : [];
        var names = value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(v => v.ToLowerInvariant()).ToHashSet();
        foreach (var n in names.Where(n => n is not ("otlp" or "console" or "none")))
            throw new InvalidOperationException($"OTEL_{signal}_EXPORTER={value}: '{n}' is not supported here; use otlp, console or none");
        names.Remove("none");
        return names;
    }
}
