namespace IngestFleet.Operations.Catalogs;

/// <summary>Values for catalog lines that leave a field out.</summary>
public sealed record CatalogDefaults(string Tenant, string Shard, string Priority, string ModelRevision);
