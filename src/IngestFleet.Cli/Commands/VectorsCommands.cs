using System.CommandLine;
using Spectre.Console;
using IngestFleet.Storage;
using IngestFleet.Storage.S3;
using IngestFleet.VectorStore;
using IngestFleet.Operations.Vectors;

namespace IngestFleet.Cli.Commands;

/// <summary><c>vectors compact</c> and <c>vectors export</c>, on S3 (the fleet's connection) or a local store (<c>--local</c>).</summary>
internal static class VectorsCommands
{
    private static readonly System.Text.Json.JsonSerializerOptions SnakeCase = new() { PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower };

    public static Command Build()
    {
        var cmd = new Command("vectors", "Compact vector part files, export vectors for index builders");
        cmd.Subcommands.Add(Compact());
        cmd.Subcommands.Add(Export());
        cmd.Subcommands.Add(Index());
        return cmd;
    }

    private static Option<string?> Local() => new("--local") { Description = "A local store folder (ingest --out) instead of S3" };

    private static (IObjectStore Store, IDisposable? Owner) Store(ParseResult p, Option<string?> local, FleetConnection connection)
    {
        if (p.GetValue(local) is { } dir)
        {
            if (!Directory.Exists(dir)) throw new CliInputException($"--local {dir}: no such folder", ExitCodes.Usage);
            return (new LocalDirectoryStore(dir), null);
        }
        var s3 = new S3ObjectStore(FleetConnection.Bind<S3Options>(FleetConnection.Configuration(connection.Overrides(p)), S3Options.SectionName));
        return (s3, s3);
    }

    private static Command Compact()
    {
        var prefix = new Argument<string>("PREFIX") { Description = "vectors/, vectors/{tenant}/, vectors/{tenant}/{revision}/{shard}/ …" };
        var local = Local();
        var json = new Option<bool>("--json") { Description = "Print the report as JSON" };
        var connection = new FleetConnection();
        var cmd = new Command("compact", "Rewrite the part files under a prefix into large ones with every item once: identical redelivered rows collapse, " +
                                         "conflicting rows are set aside under vectors-conflicts/ and reported, stale dead letters of items with a vector are removed; " +
                                         "safe to rerun and against a crash midway") { prefix, local, json };
        connection.AddTo(cmd);
        cmd.SetAction((p, ct) => CliErrors.Guard(async () =>
        {
            var (store, owner) = Store(p, local, connection);
            using var _ = owner;
            var asJson = p.GetValue(json);
            var report = await new VectorCompactor(store).CompactAsync(p.GetValue(prefix)!, asJson ? null : Console.WriteLine, ct);
            if (asJson)
            {
                Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(report));
            }
            else
            {
                Console.WriteLine($"{report.Shards} shard folder(s): {report.InputFiles} file(s), {report.RowsRead} rows → {report.Items} items in {report.OutputFiles} file(s); " +
                                  $"{report.DuplicatesCollapsed} duplicate rows collapsed, {report.ConflictingItems.Count} conflicting item(s), {report.StaleDeadLettersRemoved} stale dead letter(s) removed");
                foreach (var c in report.ConflictingItems.Take(20)) await Console.Error.WriteLineAsync($"  conflict: {c} (rows under {StorageKeys.ConflictsRoot}/)");
            }
            return report.ConflictingItems.Count == 0 ? ExitCodes.Ok : ExitCodes.SomeRejected;
        }));
        return cmd;
    }

    /// <summary><c>vectors index</c>: the quantisation table of issue 23, recall@k of a USearch index per dtype against
    /// exact float32 search over the same vectors.</summary>
    private static Command Index()
    {
        var prefix = new Argument<string>("PREFIX") { Description = "vectors/{tenant}/{revision}/ (one revision: one dimension)" };
        var backend = new Option<string>("--backend") { Description = "The ANN backend", DefaultValueFactory = _ => "usearch" };
        backend.AcceptOnlyFromAmong("usearch");
        var dtypes = new Option<string>("--dtype") { Description = "Comma-separated dtypes to build: f32,f16,i8", DefaultValueFactory = _ => "f32,f16,i8" };
        var k = new Option<int>("--k") { Description = "Neighbours per query for recall@k", DefaultValueFactory = _ => 10 };
        var queries = new Option<int>("--queries") { Description = "Held-out query vectors (at most a fifth of the set)", DefaultValueFactory = _ => 200 };
        var output = new Option<string?>("--out", "-o") { Description = "Keep each index here as index-{dtype}.usearch" };
        var json = new Option<bool>("--json") { Description = "Print the table as JSON" };
        var local = Local();
        var connection = new FleetConnection();
        var cmd = new Command("index", "Build an ANN index per dtype over the vectors under a prefix and print recall@k against exact float32 search, " +
                                       "bytes per vector and build time") { prefix, backend, dtypes, k, queries, output, json, local };
        connection.AddTo(cmd);
        cmd.SetAction((p, ct) => CliErrors.Guard(async () =>
        {
            if (p.GetValue(k) < 1 || p.GetValue(queries) < 1) throw new CliInputException("--k and --queries must be at least 1", ExitCodes.Usage);
            var (store, owner) = Store(p, local, connection);
            using var _ = owner;
            VectorDtype[] types;
            try { types = p.GetValue(dtypes)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(VectorQuantization.ParseDtype).ToArray(); }
            catch (ArgumentException e) { throw new CliInputException($"--dtype: {e.Message}", ExitCodes.Usage); }
            var (rows, conflicts) = await VectorExporter.ReadAsync(store, p.GetValue(prefix)!, ct);
            if (conflicts.Count > 0)
                throw new CliInputException($"{conflicts.Count} item(s) have rows that disagree (first: {conflicts[0]}); run `ingestfleet vectors compact` first", ExitCodes.BadInput);
            if (p.GetValue(output) is { } dir) Directory.CreateDirectory(dir);
            IReadOnlyList<QuantisationRow> table;
            try { table = VectorIndexBuilder.Measure(rows, types, p.GetValue(k), p.GetValue(queries), p.GetValue(output)); }
            catch (InvalidOperationException e) { throw new CliInputException(e.Message, ExitCodes.BadInput); }
            if (p.GetValue(json))
                Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(table, SnakeCase));
            else
            {
                // Plain fixed-width columns: the table is read in terminals, CI logs and the README alike.
                var kk = p.GetValue(k);
                Console.WriteLine($"{"dtype",-6}{"vectors",8}{"queries",8}{$"recall@{kk} ANN",16}{$"recall@{kk} exact",18}{"B/vector",10}{"index B/vector",16}{"build ms",10}");
                foreach (var r in table)
                    Console.WriteLine($"{r.Dtype,-6}{r.Vectors,8}{r.Queries,8}{r.RecallAt10Ann,16:0.000}{r.RecallAt10Exact,18:0.000}{r.VectorBytes,10}{r.IndexBytesPerVector,16:0}{r.BuildMs,10:0}");
                Console.WriteLine($"recall@{p.GetValue(k)}: share of the exact float32 cosine top {p.GetValue(k)} found, by the USearch index (ANN) and by exact search over the " +
                                  $"dtype's values (exact), over the same {rows.Count} vectors with the queries held out of the index; B = bytes; usearch {Cloud.Unum.USearch.USearchCapabilities.Version()}");
            }
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    private static Command Export()
    {
        var prefix = new Argument<string>("PREFIX") { Description = "vectors/{tenant}/{revision}/ (one revision: one dimension)" };
        var format = new Option<string>("--format") { Description = "parquet, or npy (a NumPy .npz with vectors and ids)", DefaultValueFactory = _ => "parquet" };
        format.AcceptOnlyFromAmong("parquet", "npy");
        var output = new Option<string>("--out", "-o") { Description = "The file to write", Required = true };
        var dtype = new Option<string>("--dtype") { Description = "Element type of the npy vectors: f32, f16, or i8 (with its scale in FILE.scale.json and scale.npy)", DefaultValueFactory = _ => "f32" };
        dtype.AcceptOnlyFromAmong("f32", "f16", "i8");
        var scale = new Option<string>("--i8-scale") { Description = "i8 scale: global (one for all dimensions; cosine rankings unchanged) or per-dimension", DefaultValueFactory = _ => "global" };
        scale.AcceptOnlyFromAmong("global", "per-dimension");
        var local = Local();
        var connection = new FleetConnection();
        var cmd = new Command("export", "Write every vector under a prefix to one file, ids beside vectors (parquet, or npy: np.load(FILE)[\"vectors\"], [\"ids\"])")
        {
            prefix, format, output, dtype, scale, local,
        };
        connection.AddTo(cmd);
        cmd.SetAction((p, ct) => CliErrors.Guard(async () =>
        {
            var (store, owner) = Store(p, local, connection);
            using var _ = owner;
            try
            {
                var type = VectorQuantization.ParseDtype(p.GetValue(dtype)!);
                var n = await VectorExporter.ExportAsync(store, p.GetValue(prefix)!, p.GetValue(format)!, p.GetValue(output)!, ct, type,
                    p.GetValue(scale) == "per-dimension" ? I8Scale.PerDimension : I8Scale.Global);
                Console.WriteLine($"{n} vectors from {store.Location}/{p.GetValue(prefix)} → {p.GetValue(output)} ({p.GetValue(format)}, {type.Name()})" +
                                  (type == VectorDtype.I8 ? $"; scale in {p.GetValue(output)}.scale.json" : ""));
                return ExitCodes.Ok;
            }
            catch (InvalidOperationException e)
            {
                throw new CliInputException(e.Message, ExitCodes.BadInput);
            }
        }));
        return cmd;
    }
}
