namespace IngestFleet.Storage.Resilience;

/// <summary>
/// The store could not be reached or answered with a server-side fault (5xx, 429/SlowDown, a refused or reset
/// connection, a timeout): a transient fault, retried by <see cref="ResilientObjectStore"/>, never a dead letter of its
/// own. Stores translate their SDK's exceptions into this type so the retry policy does not depend on an SDK.
/// </summary>
public sealed class StoreUnavailableException : Exception
{
    public StoreUnavailableException() { }
    public StoreUnavailableException(string message) : base(message) { }
    public StoreUnavailableException(string message, Exception inner) : base(message, inner) { }

    /// <summary>Whether an exception from a store call is transient (worth retrying) rather than a refusal.</summary>
    public static bool IsTransient(Exception e) => e switch
    {
        StoreUnavailableException => true,
        HttpRequestException => true,
        IOException and not FileNotFoundException and not DirectoryNotFoundException and not PathTooLongException => true,
        System.Net.Sockets.SocketException => true,
        TimeoutException => true,
        TaskCanceledException { InnerException: TimeoutException } => true, // an HTTP client's own timeout, not the caller's
        _ => false,
    };
}
