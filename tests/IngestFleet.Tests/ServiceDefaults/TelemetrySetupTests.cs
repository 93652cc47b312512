using IngestFleet.ServiceDefaults;

namespace IngestFleet.Tests.ServiceDefaults;

public sealed class TelemetrySetupTests
{
    [Theory]
    [InlineData(null, null, "")]
    [InlineData(null, "http://collector:4317", "otlp")]
    [InlineData("console", null, "console")]
    [InlineData("otlp,console", null, "console,otlp")]
    [InlineData("none", "http://collector:4317", "")]
    public void Exporters_FollowTheStandardVariables(string? value, string? endpoint, string expected)
    {
        var got = TelemetrySetup.Exporters(value, k => k == "OTEL_EXPORTER_OTLP_ENDPOINT" ? endpoint : null, "TRACES");
        Assert.Equal(expected, string.Join(",", got.Order(StringComparer.Ordinal)));
    }

    [Fact]
    public void UnknownExporter_IsRefused_NamingTheVariable()
    {
        var e = Assert.Throws<InvalidOperationException>(() => TelemetrySetup.Exporters("zipkin", _ => null, "METRICS"));
        Assert.Contains("OTEL_METRICS_EXPORTER=zipkin", e.Message);
    }
}
