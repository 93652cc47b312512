using System.Buffers;
using System.Diagnostics;
using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Preprocessing;

namespace IngestFleet.Embedding;

/// <summary>What became of one image in a batch: a vector, or a reason code with detail.</summary>
public readonly record struct ItemOutcome(float[]? Vector, double RawNorm, string? Reason, string? Detail, TimeSpan Preprocess, TimeSpan Inference)
{
    public bool Ok => Vector is not null;
}

/// <summary>
/// Preprocess (in parallel, straight into one pooled NCHW batch tensor) then embed the images that survived.
/// A rejected image never fails the batch: it comes back with its reason code.
/// </summary>
public sealed class EmbeddingPipeline(ImagePreprocessor preprocessor, Embedder embedder)
{
    public ImagePreprocessor Preprocessor => preprocessor;
    public Embedder Embedder => embedder;

    public ItemOutcome[] Process(IReadOnlyList<ReadOnlyMemory<byte>> images, int degreeOfParallelism, CancellationToken cancellationToken = default)
    {
        var n = images.Count;
        var len = preprocessor.TensorLength;
        var tensor = ArrayPool<float>.Shared.Rent(Math.Max(1, n) * len);
        try
        {
            var pre = new Preprocessing.PreprocessOutcome[n];
            Parallel.For(0, n, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, degreeOfParallelism), CancellationToken = cancellationToken },
                i => pre[i] = preprocessor.Preprocess(images[i], tensor.AsSpan(i * len, len)));

            // Compact the survivors so the model sees only real images.
            var slots = new List<int>(n);
            for (var i = 0; i < n; i++)
            {
                if (!pre[i].Ok) continue;
                if (slots.Count != i)
                    tensor.AsSpan(i * len, len).CopyTo(tensor.AsSpan(slots.Count * len, len));
                slots.Add(i);
            }
            var outcomes = new ItemOutcome[n];
            for (var i = 0; i < n; i++)
                if (!pre[i].Ok)
                    outcomes[i] = new ItemOutcome(null, 0, pre[i].Reason, pre[i].Detail, pre[i].Elapsed, TimeSpan.Zero);
            if (slots.Count == 0)
                return outcomes;

            var started = Stopwatch.GetTimestamp();
            var embedded = embedder.Embed(tensor.AsSpan(0, slots.Count * len), slots.Count);
            var share = Stopwatch.GetElapsedTime(started) / slots.Count;
            for (var k = 0; k < slots.Count; k++)
            {
                var i = slots[k];
                var e = embedded[k];
                outcomes[i] = new ItemOutcome(e.Vector, e.Norm, e.Reason, e.Detail, pre[i].Elapsed, share);
            }
            return outcomes;
        }
        finally
        {
            ArrayPool<float>.Shared.Return(tensor);
        }
    }
}
