namespace IngestFleet.Cli;

/// <summary>Process exit codes of <c>ingestfleet</c>; documented in the README ("Exit codes").</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>The command line could not be parsed (System.CommandLine's own code), or the configuration is refused
    /// (an options check failed, for example a fleet worker without an s3:// source allow-list).</summary>
    public const int Usage = 1;
    /// <summary>The command ran, but at least one item was rejected (each with its reason code).</summary>
    public const int SomeRejected = 2;
    /// <summary>A manifest, model file or golden pack is missing, invalid or fails its checksum.</summary>
    public const int BadModel = 3;
    /// <summary>The golden pack did not reproduce within epsilon on the chosen EP.</summary>
    public const int GoldenMismatch = 4;
    /// <summary>The requested execution provider is not available on this machine or build.</summary>
    public const int EpUnavailable = 5;
    /// <summary>A catalog or other input file is invalid; nothing was published.</summary>
    public const int BadInput = 6;
    /// <summary>The broker or object store could not be reached, or jobs were not confirmed.</summary>
    public const int Infrastructure = 7;
    /// <summary><c>node doctor</c>: the node is not fit to take traffic (the failed checks are listed).</summary>
    public const int NodeNotFit = 8;
    /// <summary><c>accept</c>: at least one gate failed (each failed gate is named with what to do).</summary>
    public const int NotAccepted = 9;
    /// <summary>Stopped by Ctrl-C / SIGTERM after writing what it had (the soak's partial report).</summary>
    public const int Interrupted = 130;
}
