using System.CommandLine;
using System.Text.Json;
using IngestFleet.Contracts;
using IngestFleet.Embedding;
using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Preprocessing;
using Spectre.Console;
using IngestFleet.Embedding.Models;
using IngestFleet.Messaging.Publishing;
using IngestFleet.Messaging.Broker;
using IngestFleet.Messaging;

namespace IngestFleet.Cli.Commands;

internal static class EmbedCommand
{
    private const int BatchSize = 16;

    public static Command Build()
    {
        var files = new Argument<string[]>("FILE") { Description = "Image files to embed", Arity = ArgumentArity.OneOrMore };
        var model = CommonOptions.Model();
        var ep = CommonOptions.Ep();
        var threads = CommonOptions.Threads();
        var json = new Option<bool>("--json") { Description = "One JSON object per line and per file (with the embedding)" };
        var cmd = new Command("embed", "Embed local image files with the default model (or --model)") { files, model, ep, threads, json };
        cmd.SetAction((p, ct) => CliErrors.Guard(async () =>
        {
            var manifest = ModelLocator.Load(p.GetValue(model));
            using var embedder = Embedder.Load(manifest, new EmbedderOptions { ExecutionProvider = p.GetValue(ep), IntraOpThreads = p.GetValue(threads) });
            var pipeline = new EmbeddingPipeline(new ImagePreprocessor(manifest.Preprocess), embedder);
            var paths = p.GetValue(files)!;
            var asJson = p.GetValue(json);
            var table = new Table().AddColumns("file", "status", "reason", "dim", "norm", "ms");
            var rejected = 0;
            foreach (var chunk in paths.Chunk(BatchSize))
            {
                ct.ThrowIfCancellationRequested();
                var images = new ReadOnlyMemory<byte>[chunk.Length];
                var missing = new string?[chunk.Length];
                for (var i = 0; i < chunk.Length; i++)
                {
                    if (File.Exists(chunk[i])) images[i] = await File.ReadAllBytesAsync(chunk[i], ct);
                    else missing[i] = $"no such file: {Path.GetFullPath(chunk[i])}";
                }
                var outcomes = pipeline.Process(images, Environment.ProcessorCount, ct);
                for (var i = 0; i < chunk.Length; i++)
                {
                    var o = missing[i] is { } why ? new ItemOutcome(null, 0, new Rejection(ReasonCodes.SourceNotFound, why), TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero) : outcomes[i];
                    if (!o.Ok) rejected++;
                    var ms = Math.Round((o.Preprocess + o.Inference).TotalMilliseconds, 2);
                    var norm = o.Ok ? VectorMath.Norm(o.Vector) : 0;
                    if (asJson)
                        Console.WriteLine(JsonSerializer.Serialize(new EmbedLine(chunk[i], o.Ok ? "ok" : "rejected", o.Reason, o.Detail,
                            o.Ok ? manifest.OutputDimension : null, o.Ok ? Math.Round(norm, 6) : null, o.Ok ? Math.Round(o.RawNorm, 6) : null, ms,
                            manifest.Revision, o.Vector), EmbedLine.Json));
                    else
                        table.AddRow(Markup.Escape(chunk[i]), o.Ok ? "[green]ok[/]" : "[red]rejected[/]", Markup.Escape(o.Reason ?? ""),
                            o.Ok ? manifest.OutputDimension.ToString() : "", o.Ok ? norm.ToString("0.000000") : "", ms.ToString("0.0"));
                }
            }
            if (!asJson)
            {
                AnsiConsole.Write(table);
                Console.WriteLine($"{paths.Length - rejected} embedded, {rejected} rejected with {manifest.Revision} on {embedder.ExecutionProvider.Name()}");
            }
            return rejected == 0 ? ExitCodes.Ok : ExitCodes.SomeRejected;
        }));
        return cmd;
    }

    private sealed record EmbedLine(string File, string Status, string? Reason, string? Detail, int? Dim, double? Norm, double? RawNorm,
        double Ms, string Model, float[]? Embedding)
    {
        public static readonly JsonSerializerOptions Json = new()
        {
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
        };
    }
}
