using System.CommandLine;
using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Models;
using IngestFleet.Storage.S3;
using IngestFleet.Worker.Bundles;

namespace IngestFleet.Cli.Commands;

/// <summary><c>models push</c> and <c>models list</c>: model bundles per tenant in the object store.</summary>
internal static class BundleCommands
{
    public static Command Push()
    {
        var manifest = new Argument<string>("MANIFEST") { Description = "manifest.json, a revision folder or a bundled revision name" };
        var tenant = new Option<string>("--tenant") { Description = "The tenant the bundle is archived for", Required = true };
        var connection = new FleetConnection();
        var cmd = new Command("push", "Archive a model bundle (manifest, ONNX, golden pack, SHA256SUMS) under models/{tenant}/{revision}/, never over a different " +
                                      "bundle of the same revision; and this Mac's Core ML compile of it (coreml-cache/{sha256}/, outside the identity) when there is one") { manifest, tenant };
        connection.AddTo(cmd);
        cmd.SetAction((p, ct) => CliErrors.Guard(async () =>
        {
            var m = ModelLocator.Load(p.GetValue(manifest));
            var config = FleetConnection.Configuration(connection.Overrides(p));
            using var store = new S3ObjectStore(FleetConnection.Bind<S3Options>(config, S3Options.SectionName));
            var embedder = FleetConnection.Bind<EmbedderOptions>(config, EmbedderOptions.SectionName);
            try
            {
                var pushed = await ModelBundles.PushAsync(store, m, p.GetValue(tenant)!, embedder, ct);
                var prefix = ModelBundles.Prefix(p.GetValue(tenant)!, m.Revision);
                Console.WriteLine(pushed.Archived ? $"archived {m.Revision} for {p.GetValue(tenant)} at {store.Location}/{prefix}" : $"{prefix} already holds this exact bundle");
                Console.WriteLine(pushed.CoreMLCacheArchived
                    ? $"archived this Mac's Core ML compile of it under {ModelBundles.CoreMLCachePrefix(p.GetValue(tenant)!, m.Revision, m.Onnx.Sha256)} (outside the bundle's identity)"
                    : $"no Core ML compile archived from here ({Embedder.CoreMLCacheFor(embedder, m)} is empty, or one is archived already)");
                Console.WriteLine($"serve it: ingestfleet worker --model s3://{FleetConnection.Bind<S3Options>(config, S3Options.SectionName).Bucket}/{prefix.TrimEnd('/')}");
                return ExitCodes.Ok;
            }
            catch (ModelBundleException e)
            {
                throw new CliInputException(e.Message, ExitCodes.BadInput);
            }
        }));
        return cmd;
    }

    public static Command List()
    {
        var tenant = new Option<string>("--tenant") { Description = "The tenant whose bundles to list", Required = true };
        var connection = new FleetConnection();
        var cmd = new Command("list", "List a tenant's archived model bundles") { tenant };
        connection.AddTo(cmd);
        cmd.SetAction((p, ct) => CliErrors.Guard(async () =>
        {
            var config = FleetConnection.Configuration(connection.Overrides(p));
            using var store = new S3ObjectStore(FleetConnection.Bind<S3Options>(config, S3Options.SectionName));
            var bundles = await ModelBundles.ListAsync(store, p.GetValue(tenant)!, ct);
            if (bundles.Count == 0) Console.WriteLine($"no bundles archived for {p.GetValue(tenant)} in {store.Location}");
            foreach (var b in bundles)
            {
                var onnx = b.Sums.FirstOrDefault(kv => kv.Key.EndsWith(".onnx", StringComparison.Ordinal));
                Console.WriteLine($"{b.Revision}\t{b.Sums.Count} files\t{onnx.Key} sha256 {onnx.Value}\t{b.Prefix}");
            }
            return ExitCodes.Ok;
        }));
        return cmd;
    }
}
