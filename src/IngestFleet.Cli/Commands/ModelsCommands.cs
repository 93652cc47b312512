using System.CommandLine;
using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Models;
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
        var cmd = new Command("verify", "Check each model's SHA-256 and run its golden pack on an EP; exit 0 only when all pass") { manifests, ep };
        cmd.SetAction((p, _) => CliErrors.Guard(async () =>
        {
            var paths = p.GetValue(manifests) is { Length: > 0 } given ? given : ManifestLoader.FindManifests(ModelLocator.ModelsDirectory).ToArray();
            if (paths.Length == 0)
                throw new CliInputException($"no manifests found under {ModelLocator.ModelsDirectory}; pass manifest paths or set INGESTFLEET_MODELS.");
            var table = new Table().AddColumns("revision", "ep", "worst cosine distance", "epsilon", "result");
            var worstCode = ExitCodes.Ok;
            foreach (var path in paths)
            {
                string revision = path, epName = p.GetValue(ep).Name(), distance = "-", eps = "-", result;
                try
                {
                    var manifest = ModelLocator.Load(path);
                    revision = manifest.Revision;
                    eps = manifest.Golden.Epsilon.ToString("G3");
                    using var embedder = Embedder.Load(manifest, new EmbedderOptions { ExecutionProvider = p.GetValue(ep), VerifyGoldenPack = false });
                    epName = embedder.ExecutionProvider.Name();
                    try
                    {
                        distance = embedder.VerifyGoldenPack().ToString("G3");
                        result = "[green]pass[/]";
                    }
                    catch (GoldenPackMismatchException e)
                    {
                        distance = e.Worst.ToString("G3");
                        result = "[red]FAIL[/]";
                        worstCode = Math.Max(worstCode, ExitCodes.GoldenMismatch);
                        await Console.Error.WriteLineAsync($"ingestfleet: error: {e.Message}");
                    }
                }
                catch (Exception e) when (e is ModelManifestException or ExecutionProviderUnavailableException)
                {
                    result = "[red]ERROR[/]";
                    worstCode = Math.Max(worstCode, e is ModelManifestException ? ExitCodes.BadModel : ExitCodes.EpUnavailable);
                    await Console.Error.WriteLineAsync($"ingestfleet: error: {e.Message}");
                }
                table.AddRow(Markup.Escape(revision), epName, distance, eps, result);
            }
            AnsiConsole.Write(table);
            return worstCode;
        }));
        return cmd;
    }
}
