using System.Globalization;

namespace IngestFleet.Benchmarks;

/// <summary>The benchmarks' options: <c>--name value</c> pairs after the benchmark's name.</summary>
internal static class BenchArgs
{
    public static string? Value(string[] args, string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();

    public static int Int(string[] args, string name, int fallback) =>
        Value(args, name) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
}
