using System.CommandLine;
using IngestFleet.Embedding.Models;
using IngestFleet.Messaging.Publishing;
using IngestFleet.Messaging.Broker;
using IngestFleet.Messaging;
using IngestFleet.Embedding.Inference;

namespace IngestFleet.Cli.Commands;

internal static class CommonOptions
{
    public static Option<ExecutionProvider> Ep() => new("--ep")
    {
        Description = "Execution provider: auto, coreml, cuda or cpu",
        DefaultValueFactory = _ => ExecutionProvider.Auto,
        CustomParser = r => r.Tokens.Count == 0 ? ExecutionProvider.Auto : ExecutionProviders.Parse(r.Tokens[0].Value),
    };

    public static Option<string?> Model() => new("--model", "-m")
    {
        Description = $"Manifest path, revision folder, or revision name under the models directory (default {ModelLocator.DefaultRevision})",
    };

    /// <summary>Whether the option was on the command line (not its default): only given options override the
    /// environment and appsettings.json.</summary>
    public static bool Given(ParseResult p, Option option) => p.GetResult(option) is { Implicit: false };

    public static Option<int> Threads() => new("--threads")
    {
        Description = "Intra-op threads (0 = one per core)",
        DefaultValueFactory = _ => 0,
    };
}
