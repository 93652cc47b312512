using System.Collections.Concurrent;
using Microsoft.ML.OnnxRuntime;

namespace IngestFleet.Embedding.Inference;

/// <summary>
/// The process-wide ONNX Runtime environment. It is created here, once, with a logging callback, before any
/// SessionOptions or session exists (ORT refuses to register a callback afterwards), so every session's log lines
/// can be captured into its placement report. Lines are routed by the session's log id.
/// </summary>
public static class OrtRuntime
{
    private static readonly Lock Gate = new();
    private static readonly ConcurrentDictionary<string, ConcurrentQueue<OrtLogLine>> Captures = new();
    private static readonly ConcurrentQueue<OrtLogLine> Recent = new();
    // Kept in a static field: the native side holds a pointer to this delegate for the life of the process.
    private static readonly DOrtLoggingFunction Callback = OnLog;
    private static OrtEnv? _env;

    public static OrtEnv Env
    {
        get
        {
            if (_env is { } e) return e;
            lock (Gate)
            {
                if (_env is not null) return _env;
                var options = new EnvironmentCreationOptions
                {
                    logId = "ingestfleet",
                    logLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_VERBOSE,
                    loggingFunction = Callback,
                };
                _env = OrtEnv.CreateInstanceWithOptions(ref options);
                return _env;
            }
        }
    }

    public static IReadOnlyList<string> AvailableProviders => Env.GetAvailableProviders();

    public static string Version => Env.GetVersionString();

    /// <summary>Starts collecting lines logged under <paramref name="logId"/>.</summary>
    public static void BeginCapture(string logId) => Captures[logId] = new ConcurrentQueue<OrtLogLine>();

    public static IReadOnlyList<OrtLogLine> EndCapture(string logId) =>
        Captures.TryRemove(logId, out var q) ? q.ToArray() : [];

    /// <summary>The last warning-or-worse lines from any session, for error messages.</summary>
    public static IReadOnlyList<OrtLogLine> RecentWarnings => Recent.ToArray();

    private static void OnLog(IntPtr param, OrtLoggingLevel severity, string category, string logId, string codeLocation, string message)
    {
        var line = new OrtLogLine(severity, logId, message);
        if (Captures.TryGetValue(logId, out var q))
            q.Enqueue(line);
        if (severity >= OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING)
        {
            Recent.Enqueue(line);
            while (Recent.Count > 50) Recent.TryDequeue(out _);
        }
    }
}

public sealed record OrtLogLine(OrtLoggingLevel Severity, string LogId, string Message);
