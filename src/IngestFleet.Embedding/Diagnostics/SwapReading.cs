namespace IngestFleet.Embedding.Diagnostics;

/// <summary>Swap as this platform reports it: per process on Linux (VmSwap), system-wide on macOS (vm.swapusage).</summary>
public readonly record struct SwapReading(long UsedBytes, string Scope)
{
    public bool Swapping => UsedBytes > 0;
}
