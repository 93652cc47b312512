namespace IngestFleet.Contracts;

/// <summary>Why an item did not become a vector: a stable reason code (<see cref="ReasonCodes"/>) and a detail for
/// people. Every stage that can refuse an item (fetch, preprocess, embed, validation) speaks this one type.</summary>
public readonly record struct Rejection(string Code, string Detail)
{
    public override string ToString() => $"{Code}: {Detail}";
}
