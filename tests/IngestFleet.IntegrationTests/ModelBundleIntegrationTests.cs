using System.Text;
using IngestFleet.Contracts;
using IngestFleet.Messaging.Publishing;
using IngestFleet.Storage;
using IngestFleet.Tests.Cli;
using IngestFleet.Worker.Bundles;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace IngestFleet.IntegrationTests;

/// <summary>Model bundles per tenant in the real S3 server: push, list, refuse a different bundle, refuse a tampered
/// one, and a worker serving a tenant-bound bundle dead-letters other tenants' jobs.</summary>
[Collection(FleetTests.Name)]
public sealed class ModelBundleIntegrationTests(FleetFixture fixture)
{
    [Fact]
    public async Task Push_Archives_List_ShowsIt_AndADifferentBundleUnderTheSameRevisionIsRefused()
    {
        using var world = await fixture.NewWorldAsync();
        var first = CliRunner.RunWith(world.Settings(), "models", "push", "clip-tiny-r1", "--tenant", "acme");
        Assert.True(first.ExitCode == 0, first.Stdout + first.Stderr);
        Assert.Contains("archived clip-tiny-r1 for acme", first.Stdout, StringComparison.Ordinal);
        var sums = Encoding.UTF8.GetString((await world.Store.GetAsync("models/acme/clip-tiny-r1/SHA256SUMS", CancellationToken.None))!);
        Assert.Contains("  model.onnx", sums, StringComparison.Ordinal);
        Assert.Contains("  manifest.json", sums, StringComparison.Ordinal);
        Assert.Contains("  golden.bin", sums, StringComparison.Ordinal);

        var again = CliRunner.RunWith(world.Settings(), "models", "push", "clip-tiny-r1", "--tenant", "acme");
        Assert.Equal(0, again.ExitCode);
        Assert.Contains("already holds this exact bundle", again.Stdout, StringComparison.Ordinal);

        var list = CliRunner.RunWith(world.Settings(), "models", "list", "--tenant", "acme");
        Assert.Equal(0, list.ExitCode);
        // manifest, model.onnx, golden.bin and the text tower: text.onnx, vocab.json, merges.txt, tokenizer.json, text-golden.json
        Assert.StartsWith("clip-tiny-r1\t8 files", list.Stdout.Trim(), StringComparison.Ordinal);

        // The same revision name over other bytes (a re-export that kept its revision) is refused.
        var copy = Directory.CreateTempSubdirectory("ingestfleet-rebundle-").FullName;
        foreach (var f in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "models", "clip-tiny-r1")))
            File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        var manifest = Path.Combine(copy, "manifest.json");
        await File.WriteAllTextAsync(manifest, (await File.ReadAllTextAsync(manifest)).Replace("\"epsilon\": 0.0001", "\"epsilon\": 0.0002", StringComparison.Ordinal));
        var different = CliRunner.RunWith(world.Settings(), "models", "push", manifest, "--tenant", "acme");
        Assert.Equal(6, different.ExitCode);
        Assert.Contains("already archives a different bundle", different.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ATamperedBundle_RefusesToLoad_NamingTheFile()
    {
        using var world = await fixture.NewWorldAsync();
        Assert.Equal(0, CliRunner.RunWith(world.Settings(), "models", "push", "clip-tiny-r1", "--tenant", "acme").ExitCode);
        var key = "models/acme/clip-tiny-r1/model.onnx";
        var bytes = (await world.Store.GetAsync(key, CancellationToken.None))!;
        bytes[bytes.Length / 2] ^= 0x01; // one flipped bit
        await world.Store.PutAsync(key, bytes, "application/octet-stream", CancellationToken.None);
        using var config = new ConfigurationManager();
        config.AddInMemoryCollection(world.Settings().ToDictionary(kv => kv.Key.Replace("__", ":", StringComparison.Ordinal), kv => (string?)kv.Value));
        config["IngestFleet:ModelBundle:CacheDirectory"] = Directory.CreateTempSubdirectory("ingestfleet-bundles-").FullName;
        var e = await Assert.ThrowsAsync<ModelBundleException>(() => WorkerModels.LoadAsync($"s3://{world.Bucket}/models/acme/clip-tiny-r1", config, CancellationToken.None));
        Assert.Contains("model.onnx", e.Message, StringComparison.Ordinal);
        Assert.Contains("does not match SHA256SUMS", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ACoreMLCompile_TravelsWithTheBundle_OutsideItsIdentity_AndLandsWhereTheNodeLooks()
    {
        using var world = await fixture.NewWorldAsync();
        var manifest = IngestFleet.Embedding.Models.ManifestLoader.Load(Path.Combine(AppContext.BaseDirectory, "models", "clip-tiny-r1"));
        // A stand-in for what Core ML compiled on one Mac (no Mac here): the files in its cache folder for this model.
        string Compile(byte fill)
        {
            var root = Directory.CreateTempSubdirectory("ingestfleet-coreml-").FullName;
            var dir = Directory.CreateDirectory(Path.Combine(root, manifest.Onnx.Sha256, "b16", "model.mlmodelc")).FullName;
            File.WriteAllBytes(Path.Combine(dir, "coremldata.bin"), Enumerable.Repeat(fill, 4096).ToArray());
            return root;
        }
        var firstMac = new Dictionary<string, string>(world.Settings()) { ["IngestFleet__Embedder__CoreMLCacheDirectory"] = Compile(1) };
        var first = CliRunner.RunWith(firstMac, "models", "push", "clip-tiny-r1", "--tenant", "acme");
        Assert.True(first.ExitCode == 0, first.Stdout + first.Stderr);
        var sums = Encoding.UTF8.GetString((await world.Store.GetAsync("models/acme/clip-tiny-r1/SHA256SUMS", CancellationToken.None))!);
        Assert.DoesNotContain("coreml", sums, StringComparison.Ordinal); // not part of the bundle's identity
        var cachePrefix = ModelBundles.CoreMLCachePrefix("acme", "clip-tiny-r1", manifest.Onnx.Sha256);
        Assert.True(await world.Store.ExistsAsync(cachePrefix + "SHA256SUMS", CancellationToken.None));

        // The same revision pushed from another Mac (another compile): not refused, and the archived compile stays.
        var secondMac = new Dictionary<string, string>(world.Settings()) { ["IngestFleet__Embedder__CoreMLCacheDirectory"] = Compile(2) };
        var second = CliRunner.RunWith(secondMac, "models", "push", "clip-tiny-r1", "--tenant", "acme");
        Assert.True(second.ExitCode == 0, second.Stdout + second.Stderr);
        Assert.Contains("already holds this exact bundle", second.Stdout, StringComparison.Ordinal);

        // A node loading the bundle finds the compile in its own Core ML cache folder (the daemon's writable one).
        var nodeCache = Directory.CreateTempSubdirectory("ingestfleet-node-coreml-").FullName;
        using var config = new ConfigurationManager();
        config.AddInMemoryCollection(world.Settings().ToDictionary(kv => kv.Key.Replace("__", ":", StringComparison.Ordinal), kv => (string?)kv.Value));
        config["IngestFleet:ModelBundle:CacheDirectory"] = Directory.CreateTempSubdirectory("ingestfleet-bundles-").FullName;
        config["IngestFleet:Embedder:CoreMLCacheDirectory"] = nodeCache;
        var loaded = await WorkerModels.LoadAsync($"s3://{world.Bucket}/models/acme/clip-tiny-r1", config, CancellationToken.None);
        var placed = Path.Combine(nodeCache, loaded.Manifest.Onnx.Sha256, "b16", "model.mlmodelc", "coremldata.bin");
        Assert.True(File.Exists(placed));
        Assert.All(await File.ReadAllBytesAsync(placed), b => Assert.Equal(1, b)); // the first Mac's compile, verified
    }

    [Fact]
    public async Task AWorkerServingATenantsBundle_EmbedsThatTenant_AndDeadLettersATenantWithoutOne()
    {
        using var world = await fixture.NewWorldAsync();
        Assert.Equal(0, CliRunner.RunWith(world.Settings(), "models", "push", "clip-tiny-r1", "--tenant", "acme").ExitCode);
        var photo = await File.ReadAllBytesAsync(Path.Combine(AppContext.BaseDirectory, "data", "photos", "coffee.jpg"));
        await world.Store.PutAsync("images/coffee.jpg", photo, "image/jpeg", CancellationToken.None);
        await using var worker = await WorkerHost.StartAsync(world, batch: 2, extra: new()
        {
            ["IngestFleet:ModelBundle:CacheDirectory"] = Directory.CreateTempSubdirectory("ingestfleet-bundles-").FullName,
        }, model: $"s3://{world.Bucket}/models/acme/clip-tiny-r1");
        var publisher = worker.Services.GetRequiredService<JobPublisher>();
        EmbedCatalogImage Job(string tenant) => new() { Tenant = tenant, Shard = "s", ItemId = $"{tenant}-1", Image = $"s3://{world.Bucket}/images/coffee.jpg", Priority = "online" };
        var summary = await publisher.PublishAsync([Job("acme"), Job("globex")], null, CancellationToken.None);
        Assert.Equal(2, summary.Confirmed);
        await worker.WaitForItemsAsync(2, TimeSpan.FromSeconds(60));
        Assert.Contains(VectorView.Id("acme", "clip-tiny-r1", "s", "acme-1"), await VectorView.ItemsAsync(world.Store));
        var record = DeadLetterRecord.FromJson((await world.Store.GetAsync(StorageKeys.DeadLetter("globex", "clip-tiny-r1", "s", "globex-1"), CancellationToken.None))!);
        Assert.Equal(ReasonCodes.ModelBundleMissing, record.Reason);
        Assert.Contains("models/globex/clip-tiny-r1/", record.Detail, StringComparison.Ordinal);
    }
}
