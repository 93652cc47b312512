using System.ComponentModel.DataAnnotations;

namespace IngestFleet.Embedding.Preprocessing;

/// <summary>
/// Documented limits every input must pass before (and while) it is decoded. Header limits are checked by
/// ImageSharp's Identify, which reads no pixel data, so a decompression bomb is refused before it costs memory.
/// </summary>
public sealed class ImageLimits
{
    public const string SectionName = "IngestFleet:Images";

    /// <value>Default 32 MiB of encoded bytes.</value>
    [Range(1, int.MaxValue)] public long MaxBytes { get; set; } = 32L * 1024 * 1024;

    /// <value>Default 50 megapixels (width × height from the header): a 7071 × 7071 PNG, measured at about 195 MiB and
    /// 1.35 s of CPU to decode (4 bytes per pixel plus the resize), the most one catalog image may cost.</value>
    [Range(1, long.MaxValue)] public long MaxPixels { get; set; } = 50_000_000;

    /// <summary>Pixels in decode at once in this process, each image weighted by its area (<see cref="DecodeBudget"/>):
    /// peak decode memory is about 4 bytes × this (or × <see cref="MaxPixels"/> if that is more: one image larger than
    /// the budget decodes alone), whatever the decode parallelism. Size it from the memory the process
    /// may use beyond the model (the chart derives it from the pod's memory limit).</summary>
    /// <value>Default 100 megapixels (about 400 MiB of decode buffers): two images at <see cref="MaxPixels"/> at once,
    /// or 23 catalog images of 2048 × 2048.</value>
    [Range(1_000_000, long.MaxValue)] public long DecodeBudgetPixels { get; set; } = 100_000_000;

    /// <value>Default 16,384 px for the longest side.</value>
    [Range(1, 65535)] public int MaxSide { get; set; } = 16_384;

    /// <value>Default 8 px for the shortest side; smaller images are refused rather than upscaled from noise.</value>
    [Range(1, 4096)] public int MinSide { get; set; } = 8;

    /// <value>Default 20: longest side ÷ shortest side; banners and strips beyond it are refused, not letterboxed.</value>
    [Range(1.0, 1000.0)] public double MaxAspect { get; set; } = 20.0;

    /// <value>Default 512 MB: the most ImageSharp may allocate for one image (its allocator enforces it).</value>
    [Range(16, 16_384)] public int AllocationLimitMegabytes { get; set; } = 512;

    /// <summary>Formats that are decoded; everything else is <c>unsupported_format</c>. TIFF is left out on purpose
    /// (a long CVE history and no catalog need).</summary>
    /// <value>Default JPEG, PNG, GIF, BMP, WEBP; configured formats (<c>AllowedFormats:0..n</c>) replace them (see
    /// <see cref="ConfiguredAllowedFormats"/>).</value>
    public string[] AllowedFormats => ConfiguredAllowedFormats is { Length: > 0 } configured ? configured : DefaultAllowedFormats;

    /// <summary>What configuration names under <c>AllowedFormats</c>, initially empty: the configuration binder appends a
    /// section's entries to an array's initial elements, so narrowing the list to JPEG and PNG would otherwise keep all
    /// five defaults.</summary>
    [Microsoft.Extensions.Configuration.ConfigurationKeyName("AllowedFormats")] public string[]? ConfiguredAllowedFormats { get; set; }

    private static readonly string[] DefaultAllowedFormats = ["JPEG", "PNG", "GIF", "BMP", "WEBP"];

    /// <summary>
    /// How JPEGs that passed every check above are decoded and resized: <c>libvips</c> (default) decodes at reduced
    /// scale (JPEG DCT shrink-on-load) and resizes with libvips' thumbnail; <c>imagesharp</c> decodes every pixel, then
    /// resizes. Other formats, and any JPEG libvips cannot read, always take the ImageSharp path, which also gives every
    /// reason code. The choice is part of the contract hash written next to each vector. Falls back to
    /// <c>imagesharp</c> (logged at start-up) where libvips cannot be loaded.
    /// </summary>
    /// <value>Default <c>libvips</c>.</value>
    [RegularExpression("^(libvips|imagesharp)$")] public string JpegDecoder { get; set; } = "libvips";
}
