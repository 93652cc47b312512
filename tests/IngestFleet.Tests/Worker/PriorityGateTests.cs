using IngestFleet.Embedding;
using IngestFleet.Worker.Scheduling;

using IngestFleet.Embedding.Inference;

namespace IngestFleet.Tests.Worker;

public sealed class PriorityGateTests
{
    [Fact]
    public async Task WaitingOnlineStage_IsGrantedBeforeEarlierBulkStages()
    {
        var gate = new PriorityGate(capacity: 2, levels: 4);
        var bulk = gate.For(3);
        var online = gate.For(0);
        var running = new[] { await bulk.EnterAsync(1, default), await bulk.EnterAsync(1, default) };
        // Both waiters are queued when EnterAsync returns (under the gate's lock): bulk first, then online. No thread
        // has to be scheduled in between, so the order the test sets up is the order the gate sees.
        var bulkWaiting = bulk.EnterAsync(1, default).AsTask();
        var onlineWaiting = online.EnterAsync(1, default).AsTask();
        Assert.False(bulkWaiting.IsCompleted || onlineWaiting.IsCompleted);
        running[0].Dispose(); // one unit frees: online gets it though bulk asked first
        using (await onlineWaiting.WaitAsync(TimeSpan.FromSeconds(30)))
            Assert.False(bulkWaiting.IsCompleted); // bulk still waits while online holds the unit
        running[1].Dispose();
        (await bulkWaiting.WaitAsync(TimeSpan.FromSeconds(30))).Dispose();
        Assert.Equal(0, gate.InUse);
    }

    [Fact]
    public async Task WideInferenceStage_IsNotOvertakenBySingleUnitStagesOfTheSameLevel()
    {
        var gate = new PriorityGate(capacity: 2, levels: 2);
        var level = gate.For(1);
        var first = await level.EnterAsync(1, default);
        var inference = level.EnterAsync(2, default).AsTask(); // needs both units
        var decode = level.EnterAsync(1, default).AsTask();   // would fit now, but must queue behind the inference
        await Task.Delay(50);
        Assert.False(inference.IsCompleted);
        Assert.False(decode.IsCompleted);
        first.Dispose();
        using (await inference) Assert.False(decode.IsCompleted);
        (await decode).Dispose();
        Assert.Equal(0, gate.InUse);
    }

    [Fact]
    public async Task CancelledWaiter_LeavesTheQueue_AndFreesThoseBehindIt()
    {
        var gate = new PriorityGate(capacity: 2, levels: 2);
        var held = await gate.For(1).EnterAsync(1, default);
        using var cts = new CancellationTokenSource();
        var big = gate.For(0).EnterAsync(2, cts.Token).AsTask();
        var small = gate.For(1).EnterAsync(1, default).AsTask();
        await Task.Delay(50);
        Assert.False(small.IsCompleted); // blocked behind the more urgent wide waiter
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => big);
        (await small.WaitAsync(TimeSpan.FromSeconds(5))).Dispose();
        held.Dispose();
        Assert.Equal(0, gate.InUse);
    }
}

public sealed class BackgroundExecutionTests
{
    [Fact]
    public async Task IoOfALessUrgentBatch_WaitsWhileAMoreUrgentBatchIsInProgress()
    {
        var gate = new PriorityGate(2, 4);
        var claim = gate.Claim(0);
        var bulkTurn = gate.For(3).WaitForTurnAsync(default).AsTask();
        var onlineTurn = gate.For(0).WaitForTurnAsync(default).AsTask();
        await Task.Delay(50);
        Assert.True(onlineTurn.IsCompletedSuccessfully); // never outranked
        Assert.False(bulkTurn.IsCompleted);
        claim.Dispose();
        await bulkTurn.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task ARunningLessUrgentDecode_MustYield_WhileAMoreUrgentBatchIsInProgress_UnlessItWaitsForAUnit()
    {
        var gate = new PriorityGate(capacity: 2, levels: 4);
        var bulk = gate.For(3);
        Assert.False(bulk.MustYield()); // nothing more urgent
        var decodes = new[] { await bulk.EnterAsync(1, default), await bulk.EnterAsync(1, default) }; // two bulk decodes hold both units
        using (gate.Claim(3)) Assert.False(bulk.MustYield()); // its own level's batches do not count
        var online = gate.Claim(0);
        Assert.True(bulk.MustYield());
        Assert.True(gate.For(1).MustYield());
        Assert.False(gate.For(0).MustYield()); // the most urgent level never yields

        // The online batch now needs a unit the paused decodes hold: they must go on and free one, not pause.
        var waiting = gate.For(0).EnterAsync(1, default).AsTask();
        Assert.False(waiting.IsCompleted);
        Assert.False(bulk.MustYield());
        decodes[0].Dispose(); // grants the waiting stage at once, under the gate's lock
        Assert.True(waiting.IsCompletedSuccessfully);
        using (await waiting) // already completed: no wait
            Assert.True(bulk.MustYield()); // granted: nothing waits, the other decode pauses again
        online.Dispose();
        Assert.False(bulk.MustYield());
        decodes[1].Dispose();
    }

    [Fact]
    public async Task BackgroundThreads_RunAtLowOsPriority_OnLinux()
    {
        using var executor = new BackgroundExecutor(2, "test-background");
        var nice = await executor.RunAsync(BackgroundExecutor.CurrentThreadNice);
        var policy = await executor.RunAsync(BackgroundExecutor.CurrentThreadPolicy);
        if (OperatingSystem.IsLinux())
        {
            Assert.Equal(19, nice);
            Assert.Equal(5, policy); // SCHED_IDLE
            Assert.Equal(0, BackgroundExecutor.CurrentThreadPolicy());
            Assert.Equal(0, BackgroundExecutor.CurrentThreadNice()); // the test's own thread is untouched
            Assert.Equal(2, executor.LoweredThreads);
        }
    }

    [LinuxOnlyFact] // reads every thread's nice value from /proc
    public async Task LowPriority_NeverLeaksIntoThreadsCreatedForOtherWork()
    {
        using var executor = new BackgroundExecutor(2, "test-bleak");
        // Many jobs whose continuations block, with a raised minimum, so the pool starts new worker threads right when
        // the continuations are queued: none of those threads may inherit nice 19.
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(workers + 48, io);
        try
        {
            await Task.WhenAll(Enumerable.Range(0, 96).Select(async i =>
            {
                await executor.RunAsync(() => { Thread.SpinWait(1000); return i; });
#pragma warning disable CA1849 // blocks a pool thread on purpose, so the pool starts new ones
                Thread.Sleep(30);
#pragma warning restore CA1849
            }));
        }
        finally
        {
            ThreadPool.SetMinThreads(workers, io);
        }
        // Low priority is expected only on executor threads and the ORT threads they create (which inherit the name).
        var leaked = ThreadsOfThisProcess()
            .Where(t => (t.Nice != 0 || t.Policy != 0) && !t.Name.StartsWith("test-b", StringComparison.Ordinal) && !t.Name.StartsWith("ingestfleet-bac", StringComparison.Ordinal))
            .Select(t => $"{t.Name} (nice {t.Nice}, policy {t.Policy})");
        Assert.Empty(leaked);
    }

    [LinuxOnlyFact] // reads every thread's name and nice value from /proc
    public async Task LibvipsWorkers_AreStartedOnce_AtNormalPriority_WhateverThreadDecodesFirst()
    {
        // libvips decodes on its own worker threads. A worker started on demand by a decode on a nice-19 executor thread
        // would inherit nice 19 and later serve online decodes; the fixed set is created when libvips initialises.
        var pre = new IngestFleet.Embedding.Preprocessing.ImagePreprocessor(TestPaths.Clip.Preprocess);
        Assert.Equal("libvips", pre.JpegDecoder);
        var jpeg = await File.ReadAllBytesAsync(Path.Combine(TestPaths.Photos, "catalog-coffee-2048.jpg"));
        var before = ThreadsOfThisProcess().Where(IsLibvipsWorker).ToList();
        using (var executor = new BackgroundExecutor(4, "test-bvips"))
        {
            var decodes = await Task.WhenAll(Enumerable.Range(0, 24).Select(_ => executor.RunAsync(() => pre.Preprocess(jpeg, new float[pre.TensorLength]).Ok)));
            Assert.All(decodes, Assert.True);
            Assert.Equal(4, executor.LoweredThreads);
        }
        var after = ThreadsOfThisProcess().Where(IsLibvipsWorker).ToList();
        Assert.NotEmpty(after);
        Assert.All(after, w => Assert.Equal((0, 0), (w.Nice, w.Policy)));
        Assert.True(before.Count == 0 || after.Count == before.Count, $"the worker set grew from {before.Count} to {after.Count}");
    }

    private static bool IsLibvipsWorker((string Name, int Nice, int Policy) thread) => thread.Name.StartsWith("libvips", StringComparison.Ordinal);

    /// <summary>Every thread of this process with its name, nice value and scheduling policy, from /proc/self/task.</summary>
    private static List<(string Name, int Nice, int Policy)> ThreadsOfThisProcess()
    {
        var threads = new List<(string, int, int)>();
        foreach (var task in Directory.GetDirectories("/proc/self/task"))
        {
            string stat;
            try { stat = File.ReadAllText(Path.Combine(task, "stat")); }
            catch (IOException) { continue; } // the thread ended
            var comm = stat[(stat.IndexOf('(') + 1)..stat.LastIndexOf(')')];
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' '); // from field 3 of proc(5): nice is 19, policy 41
            threads.Add((comm, int.Parse(fields[16], System.Globalization.CultureInfo.InvariantCulture), int.Parse(fields[38], System.Globalization.CultureInfo.InvariantCulture)));
        }
        return threads;
    }

    [Fact]
    public async Task ASessionCreatedOnBackgroundThreads_GivesTheSameVectors()
    {
        var options = new IngestFleet.Embedding.Inference.EmbedderOptions { ExecutionProvider = ExecutionProvider.Cpu, IntraOpThreads = 2 };
        using var foreground = IngestFleet.Embedding.Inference.Embedder.Load(TestPaths.Clip, options);
#pragma warning disable CA2000 // the stages own the executor and dispose it
        using var background = BackgroundStages.Create(new BackgroundExecutor(2, "test-bg-ort"),
            () => IngestFleet.Embedding.Inference.Embedder.Load(TestPaths.Clip, options.WithoutGoldenCheck()));
#pragma warning restore CA2000
        var pre = new IngestFleet.Embedding.Preprocessing.ImagePreprocessor(TestPaths.Clip.Preprocess);
        var pipeline = new EmbeddingPipeline(pre, foreground);
        var images = TestPaths.SamplePhotos.Take(3)
            .Select(f => (ReadOnlyMemory<byte>)File.ReadAllBytes(Path.Combine(TestPaths.Photos, f))).ToArray();
        var sources = images.Select(b => (Func<CancellationToken, Task<ImageSource>>)(_ => Task.FromResult(ImageSource.Of(b)))).ToArray();
        var (front, _) = await pipeline.ProcessAsync(sources, 2, 2, CancellationToken.None);
        var (back, _) = await pipeline.ProcessAsync(sources, 2, 2, CancellationToken.None, null, background);
        for (var i = 0; i < images.Length; i++)
            for (var k = 0; k < front[i].Vector!.Length; k++)
                Assert.Equal(front[i].Vector![k], back[i].Vector![k], 1e-6f);
    }
}
