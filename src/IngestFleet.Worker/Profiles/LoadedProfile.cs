namespace IngestFleet.Worker.Profiles;

/// <summary>The profile the worker started with (null when none), for logs and health.</summary>
public sealed record LoadedProfile(TunedProfile? Profile, string? Path);
