namespace IngestFleet.Worker.Fetching;

/// <summary>Raised inside the connect callback when an address is not a public unicast address.</summary>
public sealed class SsrfRefusedException(string message) : Exception(message);
