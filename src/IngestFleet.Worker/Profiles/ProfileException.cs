namespace IngestFleet.Worker.Profiles;

public sealed class ProfileException(string message) : Exception(message);
