using System.Runtime.InteropServices;
using IngestFleet.Embedding.Diagnostics;

namespace IngestFleet.Worker.Scheduling;

/// <summary>
/// Dedicated threads at a low OS priority for the CPU stages of less urgent batches: nice 19 and SCHED_IDLE on Linux
/// (per thread, via setpriority and sched_setscheduler on the thread id), QoS "utility" on macOS (which Apple Silicon schedules onto efficiency cores
/// first). The kernel then preempts them whenever a normal-priority thread (an online batch) wants a core, which no
/// user-space scheduler can do for a running ONNX Runtime call. An ORT session created on one of these threads
/// creates its intra-op pool threads from it, and they inherit the low priority.
/// </summary>
public sealed partial class BackgroundExecutor : IDisposable
{
    // Linux threads inherit the nice value of the thread that creates them, so a low-priority thread must never create
    // one by accident: it never queues to the .NET thread pool (which may start a worker thread from the queuing
    // thread). Work arrives on a blocking queue; results go to one normal-priority completer thread, which completes
    // the callers' tasks (their continuations are queued to the pool from there).
    private readonly System.Collections.Concurrent.BlockingCollection<Action> _work = new();
    private readonly System.Collections.Concurrent.BlockingCollection<Action> _completions = new();
    private readonly Thread[] _threads;
    private readonly Thread _completer;
    private int _lowered;

    public BackgroundExecutor(int threads, string name)
    {
        RssSampler.EnsureStarted(); // its thread must be created here, at normal priority
        _completer = new Thread(() =>
        {
            foreach (var complete in _completions.GetConsumingEnumerable()) complete();
        }) { IsBackground = true, Name = $"{name}-completer" };
        _completer.Start();
        _threads = Enumerable.Range(0, Math.Max(1, threads)).Select(i => new Thread(Loop) { IsBackground = true, Name = $"{name}-{i}" }).ToArray();
        foreach (var t in _threads) t.Start();
    }

    /// <summary>How many of the threads got the low priority (0 where the platform refused or does not support it).</summary>
    public int LoweredThreads => Volatile.Read(ref _lowered);

    public int Threads => _threads.Length;

    public Task<T> RunAsync<T>(Func<T> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            _work.Add(() =>
            {
                T result;
                try
                {
                    result = work();
                }
#pragma warning disable CA1031 // not swallowed: whatever the stage throws is handed to the caller's task
                catch (Exception e)
#pragma warning restore CA1031
                {
                    Complete(() => done.SetException(e));
                    return;
                }
                Complete(() => done.SetResult(result));
            });
        }
        catch (InvalidOperationException)
        {
            done.SetException(new ObjectDisposedException(nameof(BackgroundExecutor)));
        }
        return done.Task;
    }

    private void Complete(Action completion)
    {
        try
        {
            _completions.Add(completion);
        }
        catch (InvalidOperationException)
        {
            completion(); // shutting down: the completer is gone, complete here rather than never
        }
    }

    private void Loop()
    {
        if (LowerCurrentThreadPriority()) Interlocked.Increment(ref _lowered);
        foreach (var work in _work.GetConsumingEnumerable()) work();
    }

    /// <summary>Lowers the calling thread's scheduling priority; false where not supported.</summary>
    public static bool LowerCurrentThreadPriority()
    {
        try
        {
            if (OperatingSystem.IsLinux())
            {
                var tid = gettid();
                var lowered = setpriority(0 /* PRIO_PROCESS: with a thread id, that thread */, tid, 19) == 0;
                // And SCHED_IDLE where allowed (an unprivileged thread may move itself there): its weight is 3 against
                // nice 19's 15, and a waking normal thread preempts it at once (kernel/sched/fair.c,
                // check_preempt_wakeup_fair: "if curr is idle policy and p is not, preempt"), where a nice-19 thread may
                // finish its slice first. It is still scheduled, so it never holds what an online stage waits for forever.
                var param = 0; // struct sched_param { int sched_priority; }, 0 for SCHED_IDLE
                _ = sched_setscheduler(tid, 5 /* SCHED_IDLE */, ref param);
                return lowered;
            }
            if (OperatingSystem.IsMacOS()) return pthread_set_qos_class_self_np(0x11 /* QOS_CLASS_UTILITY */, 0) == 0;
        }
        catch (EntryPointNotFoundException) { }
        catch (DllNotFoundException) { }
        return false;
    }

    /// <summary>The calling thread's nice value on Linux (for tests and the start-up log); null elsewhere.</summary>
    public static int? CurrentThreadNice() => StatField(19);

    /// <summary>The calling thread's scheduling policy on Linux (0 SCHED_OTHER, 5 SCHED_IDLE); null elsewhere.</summary>
    public static int? CurrentThreadPolicy() => StatField(41);

    // A numeric field of /proc/self/task/TID/stat, numbered as proc(5) numbers them (fields 1 and 2 are the id and the comm).
    private static int? StatField(int number)
    {
        if (!OperatingSystem.IsLinux()) return null;
        var stat = File.ReadAllText($"/proc/self/task/{gettid()}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return int.Parse(fields[number - 3], System.Globalization.CultureInfo.InvariantCulture);
    }

    public void Dispose()
    {
        _work.CompleteAdding();
        var stopped = _threads.All(t => t.Join(TimeSpan.FromSeconds(5)));
        _completions.CompleteAdding();
        stopped &= _completer.Join(TimeSpan.FromSeconds(5));
        if (!stopped) return; // a stage still runs (a long ORT call): leave the queues to the finalizer rather than pull them from under it
        _work.Dispose();
        _completions.Dispose();
    }

    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    [LibraryImport("libc", SetLastError = true)]
    private static partial int setpriority(int which, int who, int prio);

    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    [LibraryImport("libc")]
    private static partial int gettid();

    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    [LibraryImport("libc", SetLastError = true)]
    private static partial int sched_setscheduler(int pid, int policy, ref int param);

    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    [LibraryImport("libSystem.dylib")]
    private static partial int pthread_set_qos_class_self_np(uint qos, int relativePriority);
}
