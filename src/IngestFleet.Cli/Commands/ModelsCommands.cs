using System.CommandLine;
using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Models;
using IngestFleet.Embedding.Text;
using IngestFleet.ModelTools;
using Spectre.Console;
using IngestFleet.Worker.Hosting;
using IngestFleet.Messaging.Publishing;
using IngestFleet.Messaging.Broker;
using IngestFleet.Messaging;

namespace IngestFleet.Cli.Commands;

internal static class ModelsCommands
{
    public static Command Build()
    {
        var models = new Command("models", "Forge, inspect, verify, push and list model revisions");
        models.Subcommands.Add(Forge());
        models.Subcommands.Add(Inspect());
        models.Subcommands.Add(Verify());
        models.Subcommands.Add(Fp16Check());
        models.Subcommands.Add(TextGolden());
        models.Subcommands.Add(BundleCommands.Push());
        models.Subcommands.Add(BundleCommands.List());
        return models;
    }

    private static Command Forge()
    {
        var family = new Option<string>("--family") { Description = "clip or siglip", Required = true }.AcceptOnlyFromAmong("clip", "siglip");
        var width = new Option<int>("--width") { Description = "Transformer width", DefaultValueFactory = _ => 128 };
        var layers = new Option<int>("--layers") { Description = "Transformer blocks", DefaultValueFactory = _ => 2 };
        var heads = new Option<int>("--heads") { Description = "Attention heads", DefaultValueFactory = _ => 4 };
        var patch = new Option<int?>("--patch") { Description = "Patch size (default 32 for clip, 16 for siglip)" };
        var size = new Option<int>("--image-size") { Description = "Input side in pixels", DefaultValueFactory = _ => 224 };
        var dim = new Option<int?>("--dim") { Description = "Output dimension, 512 or 768 (default 512 for clip, 768 for siglip)" };
        var seed = new Option<ulong>("--seed") { Description = "Weight seed", DefaultValueFactory = _ => 1 };
        var revision = new Option<string?>("--revision") { Description = "Revision tag (default derived from the architecture)" };
        var epsilon = new Option<double>("--epsilon") { Description = "Golden-pack cosine-distance tolerance", DefaultValueFactory = _ => 1e-4 };
        var output = new Option<string>("--out", "-o") { Description = "Directory to write model.onnx, manifest.json and golden.bin into", Required = true };
        var cmd = new Command("forge", "Write a ViT image tower with deterministic seeded weights, its manifest and golden pack")
        {
            family, width, layers, heads, patch, size, dim, seed, revision, epsilon, output,
        };
        cmd.SetAction((p, _) => CliErrors.Guard(() =>
        {
            var isClip = p.GetValue(family) == "clip";
            var options = new ForgeOptions
            {
                Family = isClip ? ModelFamily.Clip : ModelFamily.SigLip,
                Width = p.GetValue(width), Layers = p.GetValue(layers), Heads = p.GetValue(heads),
                Patch = p.GetValue(patch) ?? (isClip ? 32 : 16), ImageSize = p.GetValue(size),
                OutputDim = p.GetValue(dim) ?? (isClip ? 512 : 768), Seed = p.GetValue(seed), Revision = p.GetValue(revision) ?? "",
            };
            try { options.Validate(); }
            catch (ArgumentException e) { throw new CliInputException(e.Message, ExitCodes.Usage); }
            var manifest = ModelForge.Forge(options, p.GetValue(output)!, p.GetValue(epsilon));
            var mb = new FileInfo(manifest.OnnxPath).Length / 1e6;
            Console.WriteLine($"forged {manifest.Revision}: {manifest.OnnxPath} ({mb:0.0} MB, sha256 {manifest.Onnx.Sha256[..12]}…), manifest {manifest.ManifestPath}");
            return Task.FromResult(ExitCodes.Ok);
        }));
        return cmd;
    }

    private static Command Inspect()
    {
        var manifestArg = new Argument<string>("MANIFEST") { Description = "Manifest path, folder or revision name" };
        var ep = CommonOptions.Ep();
        var cmd = new Command("inspect", "Load a model on an EP and print its contract and placement report") { manifestArg, ep };
        cmd.SetAction((p, _) => CliErrors.Guard(() =>
        {
            var manifest = ModelLocator.Load(p.GetValue(manifestArg));
            using var embedder = Embedder.Load(manifest, new EmbedderOptions { ExecutionProvider = p.GetValue(ep), VerifyGoldenPack = false });
            Console.WriteLine($"revision: {manifest.Revision} ({manifest.Family}), output {manifest.OutputDimension}-d, l2 {manifest.L2Normalize}");
            Console.WriteLine($"onnx: {manifest.OnnxPath} sha256 {manifest.Onnx.Sha256} (verified)");
            var pp = manifest.Preprocess;
            Console.WriteLine($"preprocess: {pp.Size}px {pp.ResizeMode} {pp.Resampler} crop={pp.Crop} mean=[{string.Join(", ", pp.Mean)}] std=[{string.Join(", ", pp.Std)}] {pp.ChannelOrder} {pp.Layout} (contract {pp.ContractHash()})");
            Console.WriteLine($"threads: intra-op {embedder.Options.EffectiveIntraOpThreads}, inter-op {embedder.Options.InterOpThreads}; fixed batch {embedder.FixedBatch}; ORT {OrtRuntime.Version}");
            Console.Write(embedder.Placement.Format());
            return Task.FromResult(ExitCodes.Ok);
        }));
        return cmd;
    }

    private static Command Verify()
    {
        var manifests = new Argument<string[]>("MANIFEST") { Description = "Manifests to verify (default: every manifest in the models directory)", Arity = ArgumentArity.ZeroOrMore };
        var ep = CommonOptions.Ep();
        var cmd = new Command("verify", "Check each model's SHA-256 and run its golden packs (image tower on an EP, text tower on the CPU); exit 0 only when all pass") { manifests, ep };
        cmd.SetAction((p, _) => CliErrors.Guard(async () =>
        {
            var paths = p.GetValue(manifests) is { Length: > 0 } given ? given : ManifestLoader.FindManifests(ModelLocator.ModelsDirectory).ToArray();
            if (paths.Length == 0)
                throw new CliInputException($"no manifests found under {ModelLocator.ModelsDirectory}; pass manifest paths or set INGESTFLEET_MODELS.");
            var table = new Table().AddColumns("revision", "ep", "worst cosine distance", "epsilon", "result");
            var worstCode = ExitCodes.Ok;
            foreach (var path in paths)
            {
                string revision = path, epName = p.GetValue(ep).Name();
                try
                {
                    var manifest = ModelLocator.Load(path);
                    revision = manifest.Revision;
                    using (var embedder = Embedder.Load(manifest, new EmbedderOptions { ExecutionProvider = p.GetValue(ep), VerifyGoldenPack = false }))
                    {
                        epName = embedder.ExecutionProvider.Name();
                        await Row(revision, epName, manifest.Golden.EpsilonFor(epName), () => embedder.VerifyGoldenPack());
                    }
                    if (manifest.Text is { } text)
                    {
                        // The text tower serves on the CPU EP (TextEmbedder), so its golden pack is checked there.
                        using var textTower = TextEmbedder.Load(manifest, verifyGoldenPack: false);
                        await Row(revision + " (text)", "cpu", text.Golden.EpsilonFor("cpu"), textTower.VerifyGoldenPack);
                    }
                }
                catch (Exception e) when (e is ModelManifestException or ExecutionProviderUnavailableException)
                {
                    worstCode = Math.Max(worstCode, e is ModelManifestException ? ExitCodes.BadModel : ExitCodes.EpUnavailable);
                    await Console.Error.WriteLineAsync($"ingestfleet: error: {e.Message}");
                    table.AddRow(Markup.Escape(revision), epName, "-", "-", "[red]ERROR[/]");
                }
            }

            async Task Row(string revision, string epName, double epsilon, Func<double> verify)
            {
                try
                {
                    table.AddRow(Markup.Escape(revision), epName, verify().ToString("G3"), epsilon.ToString("G3"), "[green]pass[/]");
                }
                catch (GoldenPackMismatchException e)
                {
                    table.AddRow(Markup.Escape(revision), epName, e.Worst.ToString("G3"), epsilon.ToString("G3"), "[red]FAIL[/]");
                    worstCode = Math.Max(worstCode, ExitCodes.GoldenMismatch);
                    await Console.Error.WriteLineAsync($"ingestfleet: error: {e.Message}");
                }
            }
            AnsiConsole.Write(table);
            return worstCode;
        }));
        return cmd;
    }

    /// <summary>Records the text golden pack of an export's text tower (its manifest's <c>text.golden.file</c>): fixed
    /// texts, the ids the manifest's tokenizer gives them and the CPU EP's outputs.</summary>
    private static Command TextGolden()
    {
        var manifestArg = new Argument<string>("MANIFEST") { Description = "Manifest path, folder or revision name (with a text section)" };
        var cmd = new Command("text-golden", "Write the text golden pack of a manifest's text tower (fixed texts, their ids, CPU-EP outputs)") { manifestArg };
        cmd.SetAction((p, _) => CliErrors.Guard(() =>
        {
            var manifest = ModelLocator.Load(p.GetValue(manifestArg));
            if (manifest.Text is null) throw new CliInputException($"{manifest.ManifestPath} has no text section: add one (README, \"Text towers\") first", ExitCodes.BadModel);
            TextForge.WriteGoldenPack(manifest);
            using var text = TextEmbedder.Load(manifest);
            Console.WriteLine($"wrote {manifest.PathOf(manifest.Text.Golden.File)}: {TextForge.GoldenTexts.Length} texts, verified (worst cosine distance {text.GoldenWorstDistance:G3})");
            return Task.FromResult(ExitCodes.Ok);
        }));
        return cmd;
    }

    /// <summary>What an FP16 EP does to the golden pack, measured on the CPU EP with an FP16-rounded copy of the model.</summary>
    private static Command Fp16Check()
    {
        var manifests = new Argument<string[]>("MANIFEST") { Description = "Manifests to check (default: every manifest in the models directory)", Arity = ArgumentArity.ZeroOrMore };
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var cmd = new Command("fp16-check",
            "Run each golden pack on a copy of the model with weights and activations rounded to FP16 (what the Neural Engine computes), on the CPU EP, " +
            "and compare the worst cosine distance with the Core ML tolerance; exit 4 when it does not fit") { manifests, json };
        cmd.SetAction((p, _) => CliErrors.Guard(async () =>
        {
            var paths = p.GetValue(manifests) is { Length: > 0 } given ? given : ManifestLoader.FindManifests(ModelLocator.ModelsDirectory).ToArray();
            var rows = new List<(string Revision, double Fp32, double Fp16, double Tolerance)>();
            foreach (var path in paths)
            {
                var manifest = ModelLocator.Load(path);
                using var embedder = Embedder.Load(manifest, new EmbedderOptions { ExecutionProvider = ExecutionProvider.Cpu, VerifyGoldenPack = false });
                rows.Add((manifest.Revision, embedder.VerifyGoldenPack(), IngestFleet.ModelTools.Fp16GoldenCheck.WorstDistance(manifest), manifest.Golden.EpsilonFor("coreml")));
            }
            if (p.GetValue(json))
                Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(rows.Select(r => new
                {
                    revision = r.Revision, fp32_worst = r.Fp32, fp16_worst = r.Fp16, coreml_epsilon = r.Tolerance, margin = r.Tolerance / r.Fp16, fits = r.Fp16 <= r.Tolerance,
                })));
            else
            {
                var table = new Table().AddColumns("revision", "fp32 worst (cpu)", "fp16 worst (simulated)", "coreml epsilon", "margin", "result");
                foreach (var r in rows)
                    table.AddRow(Markup.Escape(r.Revision), r.Fp32.ToString("G3"), r.Fp16.ToString("G3"), r.Tolerance.ToString("G3"), $"{r.Tolerance / r.Fp16:0.0}×",
                        r.Fp16 <= r.Tolerance ? "[green]fits[/]" : "[red]TOO TIGHT[/]");
                AnsiConsole.Write(table);
            }
            await Task.CompletedTask;
            return rows.All(r => r.Fp16 <= r.Tolerance) ? ExitCodes.Ok : ExitCodes.GoldenMismatch;
        }));
        return cmd;
    }
}
