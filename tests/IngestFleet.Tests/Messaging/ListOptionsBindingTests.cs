using IngestFleet.Embedding.Preprocessing;
using IngestFleet.Messaging;
using IngestFleet.ServiceDefaults;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace IngestFleet.Tests.Messaging;

/// <summary>List settings with defaults: what configuration names replaces the default list. The configuration binder
/// appends a section's entries to an array's initial elements, so the chart's four <c>Priorities__0..3</c> once gave
/// eight classes and stopped every host at start-up (issue 20).</summary>
public sealed class ListOptionsBindingTests
{
    private static T Bind<T>(string section, Dictionary<string, string?> values) where T : class
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var services = new ServiceCollection();
        services.AddValidatedOptions<T>(config, section);
        using var provider = services.BuildServiceProvider();
        return provider.GetRequiredService<T>();
    }

    [Fact]
    public void ConfiguredPriorities_ReplaceTheDefaults_InTheirOrder()
    {
        var fleet = Bind<FleetOptions>(FleetOptions.SectionName, new()
        {
            ["IngestFleet:Fleet:Priorities:0"] = "online", ["IngestFleet:Fleet:Priorities:1"] = "high",
            ["IngestFleet:Fleet:Priorities:2"] = "normal", ["IngestFleet:Fleet:Priorities:3"] = "bulk",
        });
        Assert.Equal(["online", "high", "normal", "bulk"], fleet.Priorities);

        var two = Bind<FleetOptions>(FleetOptions.SectionName, new() { ["IngestFleet:Fleet:Priorities:0"] = "rush", ["IngestFleet:Fleet:Priorities:1"] = "later" });
        Assert.Equal(["rush", "later"], two.Priorities);
        Assert.Equal(["ingestfleet-rush", "ingestfleet-later"], two.QueueNames());
    }

    [Fact]
    public void WithoutConfiguration_TheFourDefaultClassesApply()
    {
        var fleet = Bind<FleetOptions>(FleetOptions.SectionName, new() { ["IngestFleet:Fleet:BatchSize"] = "8" });
        Assert.Equal(["online", "high", "normal", "bulk"], fleet.Priorities);
        Assert.Equal(8, fleet.BatchSize);
    }

    [Fact]
    public void ANarrowedFormatAllowList_IsNarrowed()
    {
        var limits = Bind<ImageLimits>("Limits", new() { ["Limits:AllowedFormats:0"] = "JPEG", ["Limits:AllowedFormats:1"] = "PNG" });
        Assert.Equal(["JPEG", "PNG"], limits.AllowedFormats);
        Assert.Equal(["JPEG", "PNG", "GIF", "BMP", "WEBP"], Bind<ImageLimits>("Limits", []).AllowedFormats);
    }

    [Fact]
    public void AClassNamedTwice_OrEmpty_StopsStartUp()
    {
        Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => Bind<FleetOptions>(FleetOptions.SectionName, new()
        {
            ["IngestFleet:Fleet:Priorities:0"] = "online", ["IngestFleet:Fleet:Priorities:1"] = "online",
        }));
        Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => Bind<FleetOptions>(FleetOptions.SectionName, new()
        {
            ["IngestFleet:Fleet:Priorities:0"] = "online", ["IngestFleet:Fleet:Priorities:1"] = " ",
        }));
    }
}
