using IngestFleet.Embedding;

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
        var order = new List<string>();
        var bulkWaiting = Task.Run(async () => { using var g = await bulk.EnterAsync(1, default); lock (order) order.Add("bulk"); });
        await Task.Delay(50); // bulk is queued first
        var onlineWaiting = Task.Run(async () => { using var g = await online.EnterAsync(1, default); lock (order) order.Add("online"); await Task.Delay(20); });
        await Task.Delay(50);
        Assert.Empty(order);
        running[0].Dispose(); // one unit frees: online gets it though bulk asked first
        await onlineWaiting;
        running[1].Dispose();
        await bulkWaiting;
        Assert.Equal(["online", "bulk"], order);
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
