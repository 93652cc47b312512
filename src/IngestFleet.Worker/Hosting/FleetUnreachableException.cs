namespace IngestFleet.Worker.Hosting;

/// <summary>The broker or the object store could not be reached at start; the message names which and the fix.</summary>
public sealed class FleetUnreachableException(string message, Exception? inner = null) : Exception(message, inner);
