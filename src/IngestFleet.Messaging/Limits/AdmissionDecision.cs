namespace IngestFleet.Messaging.Limits;

public enum AdmissionVerdict
{
    Accept,
    /// <summary>A target queue is past its published max depth or wait SLO: answer 429.</summary>
    OverLimit,
    /// <summary>One tenant's jobs would pass its share of a target queue's max depth: answer 429 (other tenants go on).</summary>
    OverTenantShare,
    /// <summary>Depth cannot be read: answer 503.</summary>
    BrokerDown,
}

public sealed record AdmissionDecision(AdmissionVerdict Verdict, string? Queue, string Detail, TimeSpan RetryAfter);
