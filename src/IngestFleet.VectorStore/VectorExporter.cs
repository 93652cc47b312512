using System.IO.Compression;
using System.Text;
using System.Text.Json;
using IngestFleet.Storage;

namespace IngestFleet.VectorStore;

/// <summary>
/// One file for index builders, ids beside vectors, from every vector part under a prefix (compacted or not: rows are
/// resolved the way <see cref="VectorCompactor"/> does, and an item whose rows disagree stops the export):
/// <c>parquet</c> (the vector rows, sorted by item id) or <c>npy</c> (a NumPy <c>.npz</c> archive:
/// <c>vectors.npy</c> float32 [n, dim] and <c>ids.npy</c> unicode [n], row i of one is item i of the other;
/// <c>np.load(path)["vectors"]</c>).
/// </summary>
public static class VectorExporter
{
    /// <summary>Every row under the prefix, one per item, sorted by item id; with the items whose rows disagree.</summary>
    public static async Task<(List<VectorRow> Rows, List<string> Conflicts)> ReadAsync(IObjectStore store, string prefix, CancellationToken cancellationToken)
    {
        var rows = new List<VectorRow>();
        await foreach (var key in store.ListAsync(prefix, cancellationToken))
            if (VectorParquet.IsPartKey(key))
                rows.AddRange(await VectorParquet.ReadAsync(store, key, cancellationToken));
        // Items are identified per tenant, revision and shard, as their keys are.
        var kept = new List<VectorRow>();
        var conflicts = new List<string>();
        foreach (var folder in rows.GroupBy(r => (r.Tenant, r.ModelRevision, r.Shard)).OrderBy(g => (g.Key.Tenant, g.Key.ModelRevision, g.Key.Shard)))
        {
            var (k, _, c) = VectorCompactor.Resolve(folder);
            kept.AddRange(k);
            conflicts.AddRange(c.Select(r => $"{r.Tenant}/{r.ModelRevision}/{r.Shard}/{r.ItemId}").Distinct());
        }
        return (kept, conflicts);
    }

    /// <param name="dtype">The element type of <c>vectors.npy</c>: f32, f16 (<c>&lt;f2</c>) or i8 (<c>|i1</c>, with its scale
    /// as <c>scale.npy</c> in the archive and <c>PATH.scale.json</c> beside it; see <see cref="I8ScaleFile"/>). Parquet is f32 only.</param>
    public static async Task<int> ExportAsync(IObjectStore store, string prefix, string format, string path, CancellationToken cancellationToken,
        VectorDtype dtype = VectorDtype.F32, I8Scale i8Scale = I8Scale.Global)
    {
        if (format == "parquet" && dtype != VectorDtype.F32)
            throw new InvalidOperationException($"--dtype {dtype.Name()} is for --format npy; Parquet exports keep the stored float32 vectors");
        var (rows, conflicts) = await ReadAsync(store, prefix, cancellationToken);
        if (conflicts.Count > 0)
            throw new InvalidOperationException($"{conflicts.Count} item(s) have rows that disagree (first: {conflicts[0]}); run `ingestfleet vectors compact` and resolve vectors-conflicts/ first");
        if (rows.Select(r => r.Dimension).Distinct().Count() > 1)
            throw new InvalidOperationException("the prefix mixes vector dimensions (several model revisions?); export one revision at a time");
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        switch (format)
        {
            case "parquet":
                await File.WriteAllBytesAsync(path, await VectorParquet.SerializeAsync(rows, cancellationToken), cancellationToken);
                break;
            case "npy":
                var scale = dtype == VectorDtype.I8 ? VectorQuantization.I8Scales(rows.Select(r => r.Embedding).ToList(), i8Scale) : null;
                await using (var file = File.Create(path))
                    WriteNpz(file, rows, dtype, scale);
                if (scale is not null)
                    await File.WriteAllTextAsync(path + ".scale.json", JsonSerializer.Serialize(new I8ScaleFile
                    {
                        Granularity = i8Scale == I8Scale.Global ? "global" : "per_dimension", Dimension = scale.Length, Scale = scale,
                    }, I8ScaleFile.Json) + "\n", cancellationToken);
                break;
            default:
                throw new ArgumentException($"format '{format}': use parquet or npy", nameof(format));
        }
        return rows.Count;
    }

    /// <summary>An .npz archive (what <c>np.savez</c> writes): <c>vectors.npy</c> (float32, float16 or int8) and
    /// <c>ids.npy</c>, and for int8 <c>scale.npy</c> (float32 [dim]).</summary>
    public static void WriteNpz(Stream output, IReadOnlyList<VectorRow> rows, VectorDtype dtype = VectorDtype.F32, float[]? scale = null)
    {
        using var zip = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true);
        var dim = rows.Count == 0 ? 0 : rows[0].Dimension;
        using (var entry = zip.CreateEntry("vectors.npy", CompressionLevel.NoCompression).Open())
        {
            WriteNpyHeader(entry, dtype switch { VectorDtype.F16 => "<f2", VectorDtype.I8 => "|i1", _ => "<f4" }, $"({rows.Count}, {dim})");
            var buffer = new byte[dim * dtype.BytesPerElement()];
            foreach (var r in rows)
            {
                // little-endian on every supported platform
                switch (dtype)
                {
                    case VectorDtype.F16:
                        System.Runtime.InteropServices.MemoryMarshal.AsBytes(VectorQuantization.ToF16(r.Embedding).AsSpan()).CopyTo(buffer);
                        break;
                    case VectorDtype.I8:
                        System.Runtime.InteropServices.MemoryMarshal.AsBytes(VectorQuantization.ToI8(r.Embedding, scale!).AsSpan()).CopyTo(buffer);
                        break;
                    default:
                        Buffer.BlockCopy(r.Embedding, 0, buffer, 0, buffer.Length);
                        break;
                }
                entry.Write(buffer);
            }
        }
        if (scale is not null)
            using (var entry = zip.CreateEntry("scale.npy", CompressionLevel.NoCompression).Open())
            {
                WriteNpyHeader(entry, "<f4", $"({scale.Length},)");
                entry.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(scale.AsSpan()));
            }
        var width = Math.Max(1, rows.Count == 0 ? 1 : rows.Max(r => r.ItemId.EnumerateRunes().Count()));
        using (var entry = zip.CreateEntry("ids.npy", CompressionLevel.Optimal).Open())
        {
            WriteNpyHeader(entry, $"<U{width}", $"({rows.Count},)");
            var buffer = new byte[width * 4];
            foreach (var r in rows)
            {
                Array.Clear(buffer);
                var i = 0;
                foreach (var rune in r.ItemId.EnumerateRunes())
                {
                    BitConverter.TryWriteBytes(buffer.AsSpan(i * 4, 4), rune.Value); // UTF-32 LE code points, zero-padded
                    i++;
                }
                entry.Write(buffer);
            }
        }
    }

    /// <summary>NPY format 1.0: magic, version, little-endian header length, then a Python dict literal padded with spaces
    /// to a multiple of 64 bytes and ended by a newline.</summary>
    public static void WriteNpyHeader(Stream s, string descr, string shape)
    {
        var dict = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}";
        var total = 10 + dict.Length + 1;
        var padded = dict + new string(' ', (64 - total % 64) % 64) + "\n";
        s.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0]);
        s.Write(BitConverter.GetBytes((ushort)padded.Length));
        s.Write(Encoding.ASCII.GetBytes(padded));
    }
}
