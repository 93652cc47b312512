using System.CommandLine;
using System.Text.Json;
using IngestFleet.Contracts;
using IngestFleet.Embedding;
using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Preprocessing;
using Spectre.Console;
using IngestFleet.Embedding.Models;
using IngestFleet.Embedding.Text;
using IngestFleet.Messaging.Publishing;
using IngestFleet.Messaging.Broker;
using IngestFleet.Messaging;

namespace IngestFleet.Cli.Commands;

internal static class EmbedCommand
{
    private const int BatchSize = 16;

    public static Command Build()
    {
        var files = new Argument<string[]>("FILE") { Description = "Image files to embed", Arity = ArgumentArity.ZeroOrMore };
        var texts = new Option<string[]>("--text") { Description = "A text (query) to embed with the revision's text tower; repeat for several", Arity = ArgumentArity.OneOrMore };
        var model = CommonOptions.Model();
        var ep = CommonOptions.Ep();
        var threads = CommonOptions.Threads();
        var json = new Option<bool>("--json") { Description = "One JSON object per line and per file (with the embedding)" };
        var cmd = new Command("embed", "Embed local image files, or texts (--text), with the default model (or --model)") { files, texts, model, ep, threads, json };
        cmd.SetAction((p, ct) => CliErrors.Guard(async () =>
        {
            var manifest = ModelLocator.Load(p.GetValue(model));
            var queries = p.GetValue(texts) ?? [];
            if (queries.Length == 0 && (p.GetValue(files) ?? []).Length == 0)
                throw new CliInputException("Give image files to embed, or --text \"…\".", ExitCodes.Usage);
            if (queries.Length > 0)
            {
                EmbedTexts(manifest, queries, p.GetValue(threads), p.GetValue(json));
                if ((p.GetValue(files) ?? []).Length == 0) return ExitCodes.Ok;
            }
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

    /// <summary>Embeds query texts with the revision's text tower: one line (or JSON object) per text, with its token
    /// count and whether the cap truncated it.</summary>
    private static void EmbedTexts(ModelManifest manifest, string[] queries, int threads, bool asJson)
    {
        using var text = TextEmbedder.Load(manifest, threads);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var vectors = text.Embed(queries, out var tokens);
        var contract = manifest.Text!.ContractHash();
        var ms = System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds / queries.Length;
        var table = new Table().AddColumns("text", "tokens", "truncated", "dim", "norm");
        for (var i = 0; i < queries.Length; i++)
        {
            var (count, truncated) = tokens[i];
            var norm = VectorMath.Norm(vectors[i]);
            if (asJson)
                Console.WriteLine(JsonSerializer.Serialize(new TextLine(queries[i], "ok", count, truncated, manifest.OutputDimension, Math.Round(norm, 6),
                    Math.Round(ms, 2), manifest.Revision, contract, vectors[i]), EmbedLine.Json));
            else
                table.AddRow(Markup.Escape(queries[i].Length > 60 ? queries[i][..57] + "…" : queries[i]), count.ToString(), truncated ? "yes" : "no",
                    manifest.OutputDimension.ToString(), norm.ToString("0.000000"));
        }
        if (!asJson)
        {
            AnsiConsole.Write(table);
            Console.WriteLine($"{queries.Length} texts embedded with {manifest.Revision}'s text tower ({manifest.Text!.Tokenizer.Kind}, cap {manifest.Text.TokenCap}, text contract {manifest.Text.ContractHash()})");
        }
    }

    private sealed record TextLine(string Text, string Status, int Tokens, bool Truncated, int Dim, double Norm, double Ms, string Model,
        string TextContract, float[] Embedding);

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
