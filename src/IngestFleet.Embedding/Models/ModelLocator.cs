
namespace IngestFleet.Embedding.Models;

/// <summary>Finds the models directory and turns a model argument (CLI --model, or IngestFleet:Model for the worker host)
/// into a loaded manifest.</summary>
public static class ModelLocator
{
    public const string DefaultRevision = "clip-tiny-r1";

    /// <summary><c>INGESTFLEET_MODELS</c>, else the models copied next to the executable, else ./models.</summary>
    public static string ModelsDirectory
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("INGESTFLEET_MODELS");
            if (!string.IsNullOrEmpty(env)) return Path.GetFullPath(env);
            var beside = Path.Combine(AppContext.BaseDirectory, "models");
            return Directory.Exists(beside) ? beside : Path.GetFullPath("models");
        }
    }

    /// <summary>A manifest path, a revision folder, or a revision name under the models directory.</summary>
    public static ModelManifest Load(string? model)
    {
        model ??= Environment.GetEnvironmentVariable("INGESTFLEET_DEFAULT_MODEL") ?? DefaultRevision;
        if (File.Exists(model) || Directory.Exists(model))
            return ManifestLoader.Load(model);
        var named = Path.Combine(ModelsDirectory, model, "manifest.json");
        if (File.Exists(named))
            return ManifestLoader.Load(named);
        throw new ModelManifestException(
            $"{model}: no such manifest file, folder or revision under {ModelsDirectory}. " +
            $"Pass --model with a manifest.json path or one of: {string.Join(", ", ManifestLoader.FindManifests(ModelsDirectory).Select(p => Path.GetFileName(Path.GetDirectoryName(p))))}.");
    }
}
