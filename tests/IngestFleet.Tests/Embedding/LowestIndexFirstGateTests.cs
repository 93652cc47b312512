using IngestFleet.Embedding;

namespace IngestFleet.Tests.Embedding;

public sealed class LowestIndexFirstGateTests
{
    private static readonly int[] ArrivalOrder = [5, 2, 9, 1];

    [Fact]
    public async Task Waiters_AreAdmittedLowestIndexFirst_NotInArrivalOrder()
    {
        var gate = new LowestIndexFirstGate(1);
        await gate.EnterAsync(0, CancellationToken.None); // the one slot is taken
        var admitted = new List<int>();
        var waiting = ArrivalOrder.Select(i => gate.EnterAsync(i, CancellationToken.None).ContinueWith(_ =>
        {
            lock (admitted) admitted.Add(i);
        }, TaskScheduler.Default)).ToArray();
        Assert.All(waiting, t => Assert.False(t.IsCompleted));

        for (var k = 0; k < waiting.Length; k++)
        {
            gate.Release();
            await Task.WhenAny(waiting.Where(t => !t.IsCompleted).Concat([Task.Delay(5000)]));
            await Task.Delay(20); // a second admission for one release would show up here
            Assert.Equal(k + 1, admitted.Count);
        }
        Assert.Equal([1, 2, 5, 9], admitted);
    }

    [Fact]
    public async Task ACancelledWaiter_IsSkipped_AndItsTurnGoesToTheNext()
    {
        var gate = new LowestIndexFirstGate(1);
        await gate.EnterAsync(0, CancellationToken.None);
        using var cancel = new CancellationTokenSource();
        var cancelled = gate.EnterAsync(1, cancel.Token);
        var next = gate.EnterAsync(2, CancellationToken.None);

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        Assert.False(next.IsCompleted);

        gate.Release();
        await next.WaitAsync(TimeSpan.FromSeconds(5));
        gate.Release();
        await gate.EnterAsync(3, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5)); // the slot came back
    }

    [Fact]
    public async Task FreeSlots_AdmitAtOnce()
    {
        var gate = new LowestIndexFirstGate(2);
        await gate.EnterAsync(7, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));
        await gate.EnterAsync(3, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(gate.EnterAsync(1, CancellationToken.None).IsCompleted);
    }
}
