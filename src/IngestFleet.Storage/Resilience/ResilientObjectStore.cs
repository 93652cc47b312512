using System.Runtime.CompilerServices;
using Polly;
using Polly.Retry;

namespace IngestFleet.Storage.Resilience;

/// <summary>
/// Retries an <see cref="IObjectStore"/>'s calls through transient faults (see
/// <see cref="StoreUnavailableException.IsTransient"/>) with exponential backoff and jitter (Polly) for a time budget,
/// then throws <see cref="StoreUnavailableException"/> naming the last error. Refusals (a 4xx, a bad key) are not
/// retried. Every write is a whole-object PUT of a deterministic key, so a retried write cannot leave a second copy.
/// </summary>
public sealed class ResilientObjectStore : IObjectStore
{
    private readonly IObjectStore _inner;
    private readonly StoreRetryOptions _options;
    private readonly TimeProvider _time;
    private readonly ResiliencePipeline _pipeline;

    /// <param name="inner">The store whose calls are retried.</param>
    /// <param name="options">The retry budget.</param>
    /// <param name="time">The clock for the budget and delays.</param>
    /// <param name="onRetry">Called before each retry: the operation, the attempt about to run and the last error (logs, metrics).</param>
    public ResilientObjectStore(IObjectStore inner, StoreRetryOptions options, TimeProvider? time = null, Action<string, int, Exception>? onRetry = null)
    {
        _inner = inner;
        _options = options;
        _time = time ?? TimeProvider.System;
        _pipeline = new ResiliencePipelineBuilder { TimeProvider = _time }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } e && StoreUnavailableException.IsTransient(e)
                    && args.Context.Properties.TryGetValue(StartedKey, out var started)
                    && _time.GetElapsedTime(started) < TimeSpan.FromSeconds(_options.BudgetSeconds)),
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(options.FirstDelayMs),
                MaxDelay = TimeSpan.FromSeconds(options.MaxDelaySeconds),
                OnRetry = args =>
                {
                    args.Context.Properties.TryGetValue(OperationKey, out var operation);
                    onRetry?.Invoke(operation ?? "?", args.AttemptNumber + 1, args.Outcome.Exception!);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
    }

    private static readonly ResiliencePropertyKey<long> StartedKey = new("ingestfleet.store.started");
    private static readonly ResiliencePropertyKey<string> OperationKey = new("ingestfleet.store.operation");

    public IObjectStore Inner => _inner;

    public string Location => _inner.Location;

    public Task PutAsync(string key, ReadOnlyMemory<byte> content, string contentType, CancellationToken cancellationToken) =>
        RunAsync("put " + key, async ct =>
        {
            await _inner.PutAsync(key, content, contentType, ct);
            return true;
        }, cancellationToken);

    public Task<byte[]?> GetAsync(string key, CancellationToken cancellationToken) =>
        RunAsync("get " + key, ct => new ValueTask<byte[]?>(_inner.GetAsync(key, ct)), cancellationToken);

    public Task<VersionedObject?> GetVersionedAsync(string key, CancellationToken cancellationToken) =>
        RunAsync("get " + key, ct => new ValueTask<VersionedObject?>(_inner.GetVersionedAsync(key, ct)), cancellationToken);

    /// <summary>Retried like any write; a retry after a write that did land answers "changed" (the object is then at
    /// the version this call wrote), which callers treat as "someone else won".</summary>
    public Task<bool> PutIfUnchangedAsync(string key, ReadOnlyMemory<byte> content, string contentType, string version, CancellationToken cancellationToken) =>
        RunAsync("put " + key, ct => new ValueTask<bool>(_inner.PutIfUnchangedAsync(key, content, contentType, version, ct)), cancellationToken);

    /// <summary>Retried like any write; a retry after a create that did land answers "exists", which callers treat as
    /// "the object was there" (and read it).</summary>
    public Task<bool> PutIfAbsentAsync(string key, ReadOnlyMemory<byte> content, string contentType, CancellationToken cancellationToken) =>
        RunAsync("put " + key, ct => new ValueTask<bool>(_inner.PutIfAbsentAsync(key, content, contentType, ct)), cancellationToken);

    public Task<bool> ExistsAsync(string key, CancellationToken cancellationToken) =>
        RunAsync("head " + key, ct => new ValueTask<bool>(_inner.ExistsAsync(key, ct)), cancellationToken);

    /// <summary>Listing is retried page by page only at its start (a listing that fails midway throws; callers rerun).</summary>
    public async IAsyncEnumerable<string> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var e = _inner.ListAsync(prefix, cancellationToken).GetAsyncEnumerator(cancellationToken);
        var has = await RunAsync("list " + prefix, _ => e.MoveNextAsync(), cancellationToken);
        while (has)
        {
            yield return e.Current;
            has = await e.MoveNextAsync();
        }
    }

    public Task DeleteAsync(string key, CancellationToken cancellationToken) =>
        RunAsync("delete " + key, async ct =>
        {
            await _inner.DeleteAsync(key, ct);
            return true;
        }, cancellationToken);

    /// <summary>Not retried: a probe reports the store's state now.</summary>
    public Task ProbeAsync(CancellationToken cancellationToken) => _inner.ProbeAsync(cancellationToken);

    private async Task<T> RunAsync<T>(string operation, Func<CancellationToken, ValueTask<T>> call, CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(StartedKey, _time.GetTimestamp());
        context.Properties.Set(OperationKey, operation);
        var attempt = 0;
        try
        {
            return await _pipeline.ExecuteAsync(ctx =>
            {
                attempt++;
                return call(ctx.CancellationToken);
            }, context);
        }
        catch (Exception e) when (StoreUnavailableException.IsTransient(e) && !cancellationToken.IsCancellationRequested)
        {
            throw new StoreUnavailableException(
                $"{_inner.Location}: {operation} still failing after {attempt} attempts over {_options.BudgetSeconds:0.#} s: {Unwrap(e).Message}", e);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private static Exception Unwrap(Exception e) => e is StoreUnavailableException { InnerException: { } inner } ? inner : e;
}
