using System.Buffers;
using System.Diagnostics;
using IngestFleet.Contracts;
using IngestFleet.Embedding.Diagnostics;
using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Preprocessing;

namespace IngestFleet.Embedding;

/// <summary>What became of one image in a batch: a vector, or a reason code with detail.</summary>
public readonly record struct ItemOutcome(float[]? Vector, double RawNorm, Rejection? Rejection, TimeSpan Fetch, TimeSpan Preprocess, TimeSpan Inference)
{
    public bool Ok => Vector is not null && Rejection is null;
    public string? Reason => Rejection?.Code;
    public string? Detail => Rejection?.Detail;
}

/// <summary>The encoded bytes of one image, or why there are none (fetch failures keep their reason code).</summary>
public readonly record struct ImageSource(ReadOnlyMemory<byte> Bytes, Rejection? Rejection, TimeSpan Elapsed)
{
    public static ImageSource Of(ReadOnlyMemory<byte> bytes) => new(bytes, null, TimeSpan.Zero);

    public static ImageSource Rejected(Rejection rejection) => new(default, rejection, TimeSpan.Zero);
}

/// <summary>Time spent per stage for one batch (wall-clock for inference, summed per item for the others), and the
/// peak resident set size: over the whole batch, at the decode/resize steps, and during inference calls.</summary>
public sealed record BatchTimings(TimeSpan FetchSum, TimeSpan PreprocessSum, TimeSpan Inference)
{
    /// <summary>Wall clock from the moment the first image's bytes were in hand to the end of the last inference call:
    /// the batch's compute time, whatever its fetches cost. <c>tune</c> and the soak both report this figure, so the
    /// acceptance gate compares like with like (tune's bytes are in memory; the soak's come through the fetcher).</summary>
    public TimeSpan ComputeWall { get; init; }

    public long PeakRssBytes { get; init; }
    public long PeakRssDecodeBytes { get; init; }
    public long PeakRssInferenceBytes { get; init; }
}

/// <summary>
/// Fetch → preprocess → embed for one batch, pipelined: every image is fetched and decoded concurrently (straight into
/// its slot of one pooled NCHW tensor; the image needed soonest is decoded first), and inference runs micro-batch by
/// micro-batch in order, starting with a short call (<see cref="MicroBatches"/>), so decoding of the next micro-batch
/// overlaps inference of this one. A rejected image never fails the batch: it keeps its reason code. An optional
/// <see cref="IStageGate"/> admits each decode and each inference call, so concurrent batches of different priority
/// classes share the cores by priority (see <see cref="PriorityGate"/>).
/// </summary>
public sealed class EmbeddingPipeline(ImagePreprocessor preprocessor, Embedder embedder)
{
    public ImagePreprocessor Preprocessor => preprocessor;
    public Embedder Embedder => embedder;

    /// <summary>Synchronous convenience for bytes already in memory (the CLI).</summary>
    public ItemOutcome[] Process(IReadOnlyList<ReadOnlyMemory<byte>> images, int degreeOfParallelism, CancellationToken cancellationToken = default) =>
        ProcessAsync(images.Select(b => (Func<CancellationToken, Task<ImageSource>>)(_ => Task.FromResult(ImageSource.Of(b)))).ToArray(),
            degreeOfParallelism, images.Count, cancellationToken).GetAwaiter().GetResult().Outcomes;

    public async Task<(ItemOutcome[] Outcomes, BatchTimings Timings)> ProcessAsync(
        IReadOnlyList<Func<CancellationToken, Task<ImageSource>>> sources, int degreeOfParallelism, int microBatch, CancellationToken cancellationToken,
        IStageGate? stages = null, IStageExecutor? background = null, Func<int>? callCap = null)
    {
        var model = background?.Embedder ?? embedder;
        var n = sources.Count;
        var len = preprocessor.TensorLength;
        var tensor = ArrayPool<float>.Shared.Rent(Math.Max(1, n) * len);
        var outcomes = new ItemOutcome[n];
        using var batchPeak = RssSampler.Track();
        long decodePeak = 0, inferencePeak = 0, firstBytes = 0;
        var gate = new LowestIndexFirstGate(degreeOfParallelism);
        var prepared = new Task<(ImageSource Source, PreprocessOutcome Pre)>[n];
        // A less urgent batch's decode runs on the low-priority threads, but libvips decodes JPEGs on its own worker
        // threads at normal priority: such a decode pauses inside libvips while a more urgent batch is in progress.
        Func<Action>? yieldPointFor = background is null || stages is null ? null
            : () => DecodeYield.For(stages, () => preprocessor.Budget.HasWaiters, MaxDecodePause, cancellationToken);
        try
        {
            for (var i = 0; i < n; i++)
            {
                var slot = i;
                prepared[i] = Task.Run(async () =>
                {
                    var source = await sources[slot](cancellationToken);
                    Interlocked.CompareExchange(ref firstBytes, Stopwatch.GetTimestamp(), 0);
                    if (source.Rejection is { } refused)
                        return (source, new PreprocessOutcome(refused, null, 0, 0, TimeSpan.Zero));
                    await gate.EnterAsync(slot, cancellationToken);
                    try
                    {
                        using var stage = stages is null ? null : await stages.EnterAsync(1, cancellationToken);
                        var pre = background is null
                            ? preprocessor.Preprocess(source.Bytes, tensor.AsSpan(slot * len, len))
                            : await background.RunAsync(() => preprocessor.Preprocess(source.Bytes, tensor.AsSpan(slot * len, len), yieldPointFor?.Invoke()));
                        var rss = ProcessMemory.CurrentRss(); // the decode/resize step's footprint, before its buffers go
                        batchPeak.Offer(rss);
                        RssPeak.InterlockedMax(ref decodePeak, rss);
                        return (source, pre);
                    }
                    finally
                    {
                        gate.Release();
                    }
                }, cancellationToken);
            }

            var inference = TimeSpan.Zero;
            // A fixed-shape session (Core ML) pads every call to its batch: calls shorter than it would only multiply the
            // accelerator's work, so such a model is always called with up to a whole fixed batch.
            var step = model.FixedBatch > 0 ? model.FixedBatch : Math.Max(1, microBatch);
            var scratch = ArrayPool<float>.Shared.Rent(step * len);
            try
            {
                // Each planned micro-batch, split further while callCap (read before each call) says calls must be short;
                // a fixed-shape session pads every call to its batch, so it is never split.
                IEnumerable<(int Start, int End)> Calls()
                {
                    foreach (var (start, end) in MicroBatches(n, step, model.FixedBatch))
                        for (var s = start; s < end;)
                        {
                            var cap = model.FixedBatch > 0 || callCap is null ? 0 : callCap();
                            var e = cap > 0 ? Math.Min(end, s + cap) : end;
                            yield return (s, e);
                            s = e;
                        }
                }

                foreach (var (start, end) in Calls())
                {
                    var slots = new List<int>(end - start);
                    for (var i = start; i < end; i++)
                    {
                        var (source, pre) = await prepared[i];
                        if (pre.Ok) slots.Add(i);
                        else outcomes[i] = new ItemOutcome(null, 0, pre.Rejection, source.Elapsed, pre.Elapsed, TimeSpan.Zero);
                    }
                    if (slots.Count == 0) continue;
                    // Survivors of a contiguous run are already adjacent; otherwise gather them into scratch.
                    ReadOnlyMemory<float> input;
                    if (slots[^1] - slots[0] == slots.Count - 1)
                        input = tensor.AsMemory(slots[0] * len, slots.Count * len);
                    else
                    {
                        for (var k = 0; k < slots.Count; k++)
                            tensor.AsSpan(slots[k] * len, len).CopyTo(scratch.AsSpan(k * len, len));
                        input = scratch.AsMemory(0, slots.Count * len);
                    }
                    using var stage = await EnterInferenceAsync(model, stages, cancellationToken);
                    var started = Stopwatch.GetTimestamp();
                    EmbeddingResult[] embedded;
                    try
                    {
                        using var during = RssSampler.Track();
                        var count = slots.Count;
                        embedded = background is null ? model.Embed(input, count) : await background.RunAsync(() => model.Embed(input, count));
                        during.Sample();
                        RssPeak.InterlockedMax(ref inferencePeak, during.PeakBytes);
                        batchPeak.Offer(during.PeakBytes);
                    }
                    finally
                    {
                        model.CallLane.Release();
                    }
                    var took = Stopwatch.GetElapsedTime(started);
                    stage?.Dispose();
                    inference += took;
                    for (var k = 0; k < slots.Count; k++)
                    {
                        var i = slots[k];
                        var (source, pre) = await prepared[i];
                        var e = embedded[k];
                        outcomes[i] = new ItemOutcome(e.Vector, e.Norm, e.Rejection, source.Elapsed, pre.Elapsed, took / slots.Count);
                    }
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(scratch);
            }
            batchPeak.Sample();
            var timings = new BatchTimings(
                TimeSpan.FromTicks(outcomes.Sum(o => o.Fetch.Ticks)), TimeSpan.FromTicks(outcomes.Sum(o => o.Preprocess.Ticks)), inference)
            {
                ComputeWall = Interlocked.Read(ref firstBytes) is var first and > 0 ? Stopwatch.GetElapsedTime(first) : TimeSpan.Zero,
                PeakRssBytes = batchPeak.PeakBytes, PeakRssDecodeBytes = Interlocked.Read(ref decodePeak), PeakRssInferenceBytes = Interlocked.Read(ref inferencePeak),
            };
            return (outcomes, timings);
        }
        finally
        {
            // No decode may still be writing into the tensor when it goes back to the pool.
#pragma warning disable CA1031 // every fault of these tasks was already turned into an outcome or is a cancellation being propagated
            try { await Task.WhenAll(prepared.Where(t => t is not null)); } catch { /* outcomes already recorded or cancelled */ }
#pragma warning restore CA1031
            ArrayPool<float>.Shared.Return(tensor);
        }
    }

    /// <summary>
    /// The most a less urgent decode pauses in all (<see cref="DecodeYield"/>). A paused decode keeps its stage unit, its
    /// libvips worker thread and its share of the decode budget. It stops pausing as soon as a more urgent stage waits for a
    /// unit or anyone waits for the budget; this bounds the rest. The gate's units bound how many are paused at once (the
    /// cores, fewer than the libvips workers, <see cref="Preprocessing.VipsJpegPath.WorkerThreads"/>).
    /// </summary>
    public static TimeSpan MaxDecodePause { get; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// A stage grant for one inference call, then the model's <see cref="Embedder.CallLane"/>, both held on return (the
    /// caller releases the lane after its call, then the grant). The lane is taken after the grant: whoever holds it is
    /// running its call, never waiting for a grant that a more urgent batch's claim could hold back (which would deadlock
    /// that batch if it shares the session). A batch waiting for the lane keeps its unit meanwhile. Giving the unit back
    /// and queueing again once the lane freed was tried and measured worse: the call then queued behind every batch's
    /// decodes (clip-tiny, 6 in flight: 44.7 images/s direct against 96).
    /// </summary>
    private static async Task<IDisposable?> EnterInferenceAsync(Embedder model, IStageGate? stages, CancellationToken cancellationToken)
    {
        var grant = stages is null ? null : await stages.EnterAsync(1, cancellationToken);
        try
        {
            await model.CallLane.WaitAsync(cancellationToken);
        }
        catch
        {
            grant?.Dispose();
            throw;
        }
        return grant;
    }

    /// <summary>
    /// The inference calls of a batch of <paramref name="count"/> images, in order, as [start, end) ranges. The first call
    /// takes an eighth of <paramref name="microBatch"/> (at least one image), so inference starts once a few images are
    /// decoded and the rest of the batch decodes while it runs; the rest is split evenly into calls of at most
    /// <paramref name="microBatch"/> (by default one call: each further split costs ONNX Runtime's per-call overhead). With
    /// one batch in flight, until the first call starts the cores have nothing but this batch's decodes to run (with
    /// more, the previous batch's inference fills that gap). Measured on the ViT-B/32-size tower, batch 16 of 2048-px JPEGs, 2 cores: batch start to first call 91 ms
    /// with calls of 8 and 8, 24–26 ms with calls of 2 and 14; ORT time for 16 images in calls of 2, 7 and 7 was 6 %
    /// above one call of 16, in calls of 2 and 14 the same. With a fixed (padded) batch, where a short call costs as much
    /// as a full one, every call but the last is a full micro-batch.
    /// </summary>
    public static IEnumerable<(int Start, int End)> MicroBatches(int count, int microBatch, int fixedBatch)
    {
        microBatch = Math.Max(1, microBatch);
        var start = 0;
        if (fixedBatch > 0)
        {
            for (; start < count; start += microBatch) yield return (start, Math.Min(count, start + microBatch));
            yield break;
        }
        var first = (microBatch + 7) / 8;
        if (count > first && microBatch > 1)
        {
            yield return (0, first);
            start = first;
        }
        var calls = (count - start + microBatch - 1) / microBatch;
        for (var c = 0; c < calls; c++)
        {
            var end = start + (count - start) / (calls - c);
            yield return (start, end);
            start = end;
        }
    }
}
