using System.CommandLine;

using IngestFleet.ServiceDefaults;
using IngestFleet.Embedding.Models;
using IngestFleet.Worker.Hosting;
using IngestFleet.Messaging.Publishing;
using IngestFleet.Messaging.Broker;
using IngestFleet.Messaging;

namespace IngestFleet.Cli.Commands;

internal static class CommonOptions
{
    public static Option<string> Ep() => new Option<string>("--ep")
    {
        Description = "Execution provider: auto, coreml, cuda or cpu",
        DefaultValueFactory = _ => "auto",
    }.AcceptOnlyFromAmong("auto", "coreml", "cuda", "cpu");

    public static Option<string?> Model() => new("--model", "-m")
    {
        Description = $"Manifest path, revision folder, or revision name under the models directory (default {ModelLocator.DefaultRevision})",
    };

    public static Option<int> Threads() => new("--threads")
    {
        Description = "Intra-op threads (0 = one per core)",
        DefaultValueFactory = _ => 0,
    };
}
