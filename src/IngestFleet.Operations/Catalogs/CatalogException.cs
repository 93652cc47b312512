namespace IngestFleet.Operations.Catalogs;

/// <summary>A catalog that cannot be used: missing, of an unknown kind, empty, or with invalid lines (each listed with
/// its number). Nothing of such a catalog is published.</summary>
public sealed class CatalogException : Exception
{
    public CatalogException(IReadOnlyList<string> problems)
        : base($"{problems.Count} invalid catalog line(s):\n  " + string.Join("\n  ", problems.Take(50)) + (problems.Count > 50 ? $"\n  … and {problems.Count - 50} more" : ""))
    {
        Problems = problems;
    }

    public CatalogException(string message) : base(message)
    {
        Problems = [message];
    }

    public IReadOnlyList<string> Problems { get; }
}
