namespace IngestFleet.Messaging.Shedding;

/// <summary>What one shedding pass over one queue did.</summary>
public sealed record ShedPass(string Queue, long DepthBefore, long DepthAfter, int Parked, int Kept, IReadOnlyDictionary<string, int> ParkedPerShard);
