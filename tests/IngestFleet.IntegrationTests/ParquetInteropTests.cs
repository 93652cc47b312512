using System.Diagnostics;
using System.Text.Json;
using IngestFleet.Tests.Cli;

namespace IngestFleet.IntegrationTests;

/// <summary>A fact that needs DuckDB (INGESTFLEET_TEST_DUCKDB_DIR: a folder with npm's @duckdb/node-api, which
/// tests/run.sh installs when npm can); without it the test is reported as skipped, with the reason.</summary>
public sealed class DuckDbFactAttribute : FactAttribute
{
    public static string? Directory { get; } = Environment.GetEnvironmentVariable("INGESTFLEET_TEST_DUCKDB_DIR") is { Length: > 0 } d
                                                && System.IO.Directory.Exists(Path.Combine(d, "node_modules", "@duckdb", "node-api")) ? d : null;

    public DuckDbFactAttribute()
    {
        if (Directory is null) Skip = "DuckDB not installed: set INGESTFLEET_TEST_DUCKDB_DIR to a folder with npm's @duckdb/node-api (tests/run.sh installs one when npm can)";
    }
}

/// <summary>The vectors the embedded mode writes (same format as S3) are read directly by DuckDB.</summary>
public sealed class ParquetInteropTests
{
    [DuckDbFact]
    public void DuckDB_ReadsTheVectorFiles_WithAFloatListEmbedding()
    {
        var duck = DuckDbFactAttribute.Directory;
        var output = Path.Combine(Path.GetTempPath(), $"ingest-{Guid.NewGuid():N}");
        var ingest = CliRunner.Run("ingest", Path.Combine(AppContext.BaseDirectory, "data", "sample-catalog.jsonl"), "--out", output, "--ep", "cpu");
        Assert.True(ingest.ExitCode == 2, ingest.Stderr + ingest.Stdout); // the sample holds hostile files
        var vectorFiles = Directory.GetFiles(Path.Combine(output, "vectors"), "*.parquet", SearchOption.AllDirectories);
        Assert.NotEmpty(vectorFiles);

        // ES modules resolve packages next to the script, so the script runs from the DuckDB folder.
        var script = Path.Combine(duck!, $"read-{Guid.NewGuid():N}.mjs");
        File.Copy(Path.Combine(AppContext.BaseDirectory, "interop", "read-vectors.mjs"), script);
        var psi = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add(Path.Combine(output, "vectors", "*", "*", "*", "*.parquet"));
        using var node = Process.Start(psi)!;
        var stdout = node.StandardOutput.ReadToEnd();
        var stderr = node.StandardError.ReadToEnd();
        node.WaitForExit();
        File.Delete(script);
        Assert.True(node.ExitCode == 0, stderr);

        var rows = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Contains("17 vectors", ingest.Stdout, StringComparison.Ordinal);
        Assert.Equal(17, rows.Length);                           // one row per vector, across the batch part files
        Assert.True(vectorFiles.Length < rows.Length, $"{vectorFiles.Length} files for {rows.Length} vectors: parts are per batch");
        foreach (var r in rows)
        {
            Assert.Equal("FLOAT[]", r.GetProperty("embedding_type").GetString());
            Assert.Equal("TIMESTAMP", r.GetProperty("written_at_type").GetString());
            Assert.Equal(512, r.GetProperty("dimension").GetInt32());
            Assert.Equal("512", r.GetProperty("n").ToString());
            Assert.InRange(r.GetProperty("norm2").GetDouble(), 0.999, 1.001);
            Assert.Equal("clip-tiny-r1", r.GetProperty("model_revision").GetString());
            // The documented similarity query: DuckDB reads Parquet lists as FLOAT[], so one cast to FLOAT[512].
            Assert.InRange(r.GetProperty("self_cosine").GetDouble(), 0.9999, 1.0001);
            // Or, without a cast, the list function on the column as it is.
            Assert.InRange(r.GetProperty("self_cosine_list").GetDouble(), 0.9999, 1.0001);
        }
    }
}
