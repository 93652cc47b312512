using System.Runtime.InteropServices;

namespace IngestFleet.Worker.Profiles;

/// <summary>The performance-core count the thread walk starts from.</summary>
public static partial class MachineProbe
{
    /// <summary>macOS: hw.perflevel0.physicalcpu (Apple Silicon's P cores); elsewhere: the logical core count the
    /// runtime sees (Linux and Windows do not tell performance from efficiency cores here).</summary>
    public static int PerformanceCores()
    {
        if (OperatingSystem.IsMacOS())
        {
            var value = 0;
            var size = (nint)sizeof(int);
            if (sysctlbyname("hw.perflevel0.physicalcpu", ref value, ref size, 0, 0) == 0 && value > 0) return value;
        }
        return Environment.ProcessorCount;
    }

    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    [System.Runtime.InteropServices.LibraryImport("libc", StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8)]
    private static partial int sysctlbyname(string name, ref int oldp, ref nint oldlenp, nint newp, nint newlen);
}
