namespace IngestFleet.Tests;

/// <summary>Tests that compare measured latencies (a soak against its tune baseline) run in this collection, which never
/// runs beside another; tests/run.sh also runs the test projects one after the other.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimingSensitiveTestGroup
{
    public const string Name = "timing sensitive";
}
