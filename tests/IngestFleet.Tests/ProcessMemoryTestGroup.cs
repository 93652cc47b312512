namespace IngestFleet.Tests;

/// <summary>Tests that measure this process's memory run in this collection, which never runs beside another.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessMemoryTestGroup
{
    public const string Name = "process memory";
}
