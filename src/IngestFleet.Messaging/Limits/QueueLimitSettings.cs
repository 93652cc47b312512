namespace IngestFleet.Messaging.Limits;

/// <summary>One queue's limits as written in configuration (<c>IngestFleet:Limits:Queues:{priority}</c>); unset fields
/// take the defaults of <see cref="PublishedLimits"/>.</summary>
public sealed class QueueLimitSettings
{
    public long? MaxDepth { get; set; }
    public long? ResumeDepth { get; set; }
    public double? WaitSloSeconds { get; set; }
    public int? ShedRank { get; set; }
}
