using IngestFleet.Contracts;

namespace IngestFleet.Messaging.Publishing;

/// <summary>Outcome of a publish: how many jobs the broker confirmed, and why the others were not.</summary>
public sealed record PublishSummary(int Confirmed, IReadOnlyList<(EmbedCatalogImage Job, string Error)> Failed);
