namespace IngestFleet.Embedding.Diagnostics;

/// <summary>Physical memory, memory available now, and swap in use system-wide, in bytes (-1: not known here).</summary>
public readonly record struct SystemMemoryReading(long TotalBytes, long AvailableBytes, long SwapUsedBytes);
