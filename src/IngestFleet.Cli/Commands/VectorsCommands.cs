using System.CommandLine;
using IngestFleet.Storage;
using IngestFleet.Storage.S3;
using IngestFleet.VectorStore;

namespace IngestFleet.Cli.Commands;

/// <summary><c>vectors compact</c> and <c>vectors export</c>, on S3 (the fleet's connection) or a local store (<c>--local</c>).</summary>
internal static class VectorsCommands
{
    public static Command Build()
    {
        var cmd = new Command("vectors", "Compact vector part files, export vectors for index builders");
        cmd.Subcommands.Add(Compact());
        cmd.Subcommands.Add(Export());
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

    private static Command Export()
    {
        var prefix = new Argument<string>("PREFIX") { Description = "vectors/{tenant}/{revision}/ (one revision: one dimension)" };
        var format = new Option<string>("--format") { Description = "parquet, or npy (a NumPy .npz with vectors and ids)", DefaultValueFactory = _ => "parquet" };
        format.AcceptOnlyFromAmong("parquet", "npy");
        var output = new Option<string>("--out", "-o") { Description = "The file to write", Required = true };
        var local = Local();
        var connection = new FleetConnection();
        var cmd = new Command("export", "Write every vector under a prefix to one file, ids beside vectors (parquet, or npy: np.load(FILE)[\"vectors\"], [\"ids\"])")
        {
            prefix, format, output, local,
        };
        connection.AddTo(cmd);
        cmd.SetAction((p, ct) => CliErrors.Guard(async () =>
        {
            var (store, owner) = Store(p, local, connection);
            using var _ = owner;
            try
            {
                var n = await VectorExporter.ExportAsync(store, p.GetValue(prefix)!, p.GetValue(format)!, p.GetValue(output)!, ct);
                Console.WriteLine($"{n} vectors from {store.Location}/{p.GetValue(prefix)} → {p.GetValue(output)} ({p.GetValue(format)})");
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
