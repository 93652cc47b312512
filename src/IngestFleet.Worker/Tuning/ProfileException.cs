namespace IngestFleet.Worker.Tuning;

public sealed class ProfileException(string message) : Exception(message);
