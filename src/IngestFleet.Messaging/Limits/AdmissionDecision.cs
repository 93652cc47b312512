namespace IngestFleet.Messaging.Limits;

public enum AdmissionVerdict
{
    Accept,
    /// <summary>A target queue is past its published max depth or wait SLO: answer 429.</summary>
    OverLimit,
    /// <summary>Depth cannot be read: answer 503.</summary>
    BrokerDown,
}

public sealed record AdmissionDecision(AdmissionVerdict Verdict, string? Queue, string Detail, TimeSpan RetryAfter);
