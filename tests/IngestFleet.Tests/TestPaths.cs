using IngestFleet.Embedding.Models;

namespace IngestFleet.Tests;

internal static class TestPaths
{
    public static string Data => Path.Combine(AppContext.BaseDirectory, "data");

    /// <summary>The repository's root (the folder holding IngestFleet.sln), found upward from the test binaries.</summary>
    public static string RepositoryRoot
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "IngestFleet.sln"))) return d.FullName;
            throw new DirectoryNotFoundException($"no IngestFleet.sln above {AppContext.BaseDirectory}");
        }
    }
    public static string Hostile => Path.Combine(Data, "hostile");
    public static string Photos => Path.Combine(Data, "photos");
    public static string Models => Path.Combine(AppContext.BaseDirectory, "models");
    public static string ClipManifest => Path.Combine(Models, "clip-tiny-r1", "manifest.json");
    public static string SigLipManifest => Path.Combine(Models, "siglip-tiny-r1", "manifest.json");

    /// <summary>Four of the repository's real photos, in a fixed order.</summary>
    public static IReadOnlyList<string> SamplePhotos { get; } = ["astronaut.jpg", "coffee.jpg", "rocket.jpg", "chelsea.jpg"];

    public static ModelManifest Clip => ManifestLoader.Load(ClipManifest);
    public static ModelManifest SigLip => ManifestLoader.Load(SigLipManifest);

    /// <summary>A fresh copy of a model revision folder in a temp directory, for tests that damage it.</summary>
    public static string CopyModel(string revision)
    {
        var target = Path.Combine(Path.GetTempPath(), "ingestfleet-tests", $"{revision}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(target);
        foreach (var f in Directory.GetFiles(Path.Combine(Models, revision)))
            File.Copy(f, Path.Combine(target, Path.GetFileName(f)));
        return target;
    }
}
