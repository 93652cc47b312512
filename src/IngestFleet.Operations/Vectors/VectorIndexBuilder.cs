using System.Diagnostics;
using Cloud.Unum.USearch;

using IngestFleet.VectorStore;

namespace IngestFleet.Operations.Vectors;

/// <summary>One dtype's row of the quantisation table.</summary>
/// <param name="RecallAt10Ann">Mean share of the exact float32 top k that the USearch index returns for each query.</param>
/// <param name="RecallAt10Exact">The same for exact search over the quantised vectors: what the dtype alone costs,
/// with no graph in the way.</param>
/// <param name="VectorBytes">Bytes of one quantised vector (dimension × element size).</param>
/// <param name="IndexBytesPerVector">The saved index file's size ÷ vectors (vectors plus the HNSW graph).</param>
public sealed record QuantisationRow(string Dtype, int Vectors, int Queries, int K, double RecallAt10Ann, double RecallAt10Exact,
    int VectorBytes, double IndexBytesPerVector, double BuildMs, string? IndexFile);

/// <summary>
/// Builds USearch indexes (Cloud.Unum.USearch, cosine metric, HNSW) over a set of vectors in each dtype and measures
/// recall@k against exact float32 search over the same vectors. Queries are held out: a fixed, seeded sample of the
/// vectors is searched for and not indexed, so no query finds itself. The i8 index holds int8 bytes with one global
/// scale, as the i8 export makes them (<see cref="VectorQuantization"/>; the scale here is computed over the indexed
/// vectors): cosine is unchanged by one scale for all dimensions, so USearch's int8 cosine works on them as they are;
/// f16 vectors are converted by USearch from the float32 values.
/// </summary>
public static class VectorIndexBuilder
{
    public static IReadOnlyList<QuantisationRow> Measure(IReadOnlyList<VectorRow> rows, IReadOnlyList<VectorDtype> dtypes, int k = 10, int queries = 200,
        string? saveDirectory = null, ulong seed = 17)
    {
        if (rows.Count < k + 2) throw new InvalidOperationException($"{rows.Count} vectors: need more than {k + 1} to measure recall@{k}");
        var dim = rows[0].Dimension;
        if (rows.Any(r => r.Dimension != dim)) throw new InvalidOperationException("the vectors mix dimensions (several model revisions?); index one revision at a time");
        // Held-out queries: every n-th vector after a seeded offset, at most `queries` of them and at most a fifth of the set.
        var q = Math.Min(queries, rows.Count / 5);
        var stride = rows.Count / Math.Max(q, 1);
        var offset = (int)(seed % (ulong)Math.Max(stride, 1));
        var queryIndexes = Enumerable.Range(0, q).Select(i => offset + i * stride).Where(i => i < rows.Count).ToHashSet();
        var data = rows.Select(r => r.Embedding).ToArray();
        var indexed = Enumerable.Range(0, data.Length).Where(i => !queryIndexes.Contains(i)).ToArray();
        var queryVectors = queryIndexes.Order().Select(i => data[i]).ToArray();
        var exact = queryVectors.Select(v => TopK(v, indexed, data, k)).ToArray();

        var result = new List<QuantisationRow>();
        foreach (var dtype in dtypes)
        {
            var scale = dtype == VectorDtype.I8 ? VectorQuantization.I8Scales(indexed.Select(i => data[i]).ToList(), I8Scale.Global) : null;
            // Exact search over the quantised values: the dtype's own loss.
            var rounded = data.Select(v => VectorQuantization.RoundTrip(v, dtype, scale)).ToArray();
            var exactOnDtype = queryVectors.Select(v => TopK(VectorQuantization.RoundTrip(v, dtype, scale), indexed, rounded, k)).ToArray();

            var kind = dtype switch { VectorDtype.F16 => ScalarKind.Float16, VectorDtype.I8 => ScalarKind.Int8, _ => ScalarKind.Float32 };
            using var index = new USearchIndex(MetricKind.Cos, kind, (ulong)dim, 0, 0, 0, false);
            var started = Stopwatch.GetTimestamp();
            foreach (var i in indexed)
            {
                if (dtype == VectorDtype.I8) index.Add((ulong)i, VectorQuantization.ToI8(data[i], scale!));
                else index.Add((ulong)i, data[i]);
            }
            var buildMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            var hits = 0;
            var hitsExact = 0;
            for (var j = 0; j < queryVectors.Length; j++)
            {
                ulong[] keys = [];
                float[] distances = [];
                var found = dtype == VectorDtype.I8
                    ? index.Search(VectorQuantization.ToI8(queryVectors[j], scale!), k, out keys, out distances)
                    : index.Search(queryVectors[j], k, out keys, out distances);
                var truth = exact[j].ToHashSet();
                hits += keys.Take(found).Count(key => truth.Contains((int)key));
                hitsExact += exactOnDtype[j].Count(truth.Contains);
            }
            var file = Path.Combine(saveDirectory ?? Path.GetTempPath(), $"index-{dtype.Name()}-{Guid.NewGuid():N}.usearch");
            index.Save(file);
            var indexBytes = new FileInfo(file).Length;
            if (saveDirectory is null) File.Delete(file);
            else
            {
                var named = Path.Combine(saveDirectory, $"index-{dtype.Name()}.usearch");
                File.Move(file, named, overwrite: true);
                file = named;
            }
            var total = (double)queryVectors.Length * k;
            result.Add(new QuantisationRow(dtype.Name(), indexed.Length, queryVectors.Length, k, hits / total, hitsExact / total,
                dim * dtype.BytesPerElement(), (double)indexBytes / indexed.Length, buildMs, saveDirectory is null ? null : file));
        }
        return result;
    }

    /// <summary>Indexes (into <paramref name="data"/>) of the k highest cosine similarities among <paramref name="candidates"/>.</summary>
    private static int[] TopK(float[] query, int[] candidates, float[][] data, int k)
    {
        var qn = Norm(query);
        return candidates
            .Select(i => (i, cos: Dot(query, data[i]) / (qn * Norm(data[i]) + 1e-30)))
            .OrderByDescending(x => x.cos).ThenBy(x => x.i)
            .Take(k).Select(x => x.i).ToArray();
    }

    private static double Dot(float[] a, float[] b)
    {
        double s = 0;
        for (var i = 0; i < a.Length; i++) s += (double)a[i] * b[i];
        return s;
    }

    private static double Norm(float[] a) => Math.Sqrt(Dot(a, a));
}
