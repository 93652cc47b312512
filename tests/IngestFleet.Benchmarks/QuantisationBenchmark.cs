using IngestFleet.Embedding.Models;
using IngestFleet.Embedding.Text;
using IngestFleet.Storage;
using IngestFleet.VectorStore;
using IngestFleet.Operations.Vectors;

namespace IngestFleet.Benchmarks;

/// <summary>
/// The quantisation table (issue 23): for each bundled revision, the text tower embeds the generated catalog captions,
/// the vectors are written as a worker writes vector parts into a local store, and the table `ingestfleet vectors index`
/// prints is measured on them (<see cref="VectorIndexBuilder"/>: USearch per dtype, recall@10 against exact float32
/// search, bytes per vector, build time). The store is kept, so the CLI can be run on it.
/// </summary>
internal static class QuantisationBenchmark
{
    public static async Task RunAsync(bool quick, string[] args)
    {
        var count = BenchArgs.Int(args, "--vectors", quick ? 3000 : 20_000);
        Console.WriteLine($"== quantisation: {count} caption vectors per revision, USearch per dtype against exact float32 search ==");
        foreach (var revision in new[] { "clip-tiny-r1", "siglip-tiny-r1" })
        {
            var m = ManifestLoader.Load(Path.Combine(BenchPaths.Repo, "models", revision));
            var dir = Path.Combine(Path.GetTempPath(), "ingestfleet-bench", $"quantisation-{revision}");
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
            var store = new LocalDirectoryStore(dir);
            using var text = TextEmbedder.Load(m);
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            var rows = CatalogCaptions.Vectors(m, text, count, chunk: 256, DateTime.UtcNow);
            var embedSeconds = System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds;
            foreach (var part in rows.Chunk(5000))
                await store.PutAsync(StorageKeys.VectorPart("acme", m.Revision, "s0", part.Select(r => r.ItemId)), await VectorParquet.SerializeAsync(part),
                    "application/vnd.apache.parquet", CancellationToken.None);
            Console.WriteLine($"{revision}: {rows.Count} {m.OutputDimension}-d vectors in {embedSeconds:0.0} s ({rows.Count / embedSeconds:0} texts/s, text tower on the CPU EP); store {dir}");
            var table = VectorIndexBuilder.Measure(rows, [VectorDtype.F32, VectorDtype.F16, VectorDtype.I8]);
            Console.WriteLine("| revision | dtype | vectors | queries | recall@10 ANN | recall@10 exact | bytes/vector | index bytes/vector | build ms |");
            Console.WriteLine("|---|---|---|---|---|---|---|---|---|");
            foreach (var r in table)
                Console.WriteLine($"| {revision} | {r.Dtype} | {r.Vectors} | {r.Queries} | {r.RecallAt10Ann:0.000} | {r.RecallAt10Exact:0.000} | {r.VectorBytes} | {r.IndexBytesPerVector:0} | {r.BuildMs:0} |");
            Console.WriteLine($"json: {System.Text.Json.JsonSerializer.Serialize(table)}");
            Console.WriteLine($"the CLI on the same store: ingestfleet vectors index vectors/acme/{revision}/ --local {dir}");
        }
    }
}
