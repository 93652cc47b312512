namespace IngestFleet.Worker.Tuning;

/// <summary>The profile the worker started with (null when none), for logs and health.</summary>
public sealed record LoadedProfile(TunedProfile? Profile, string? Path);
