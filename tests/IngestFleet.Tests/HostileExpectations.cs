using IngestFleet.Contracts;

namespace IngestFleet.Tests;

/// <summary>Expected outcome of every file in tests/data/hostile (shared by unit and integration tests).</summary>
public static class HostileExpectations
{
    /// <summary>null = embedded; otherwise the reason code. Mirrors the table in tests/data/hostile/README.md.</summary>
    public static readonly Dictionary<string, string?> Expected = new()
    {
        ["truncated-tiny.jpg"] = ReasonCodes.Corrupt,
        ["truncated-half.jpg"] = ReasonCodes.Truncated,
        ["empty.jpg"] = ReasonCodes.Empty,
        ["html-error-page.jpg"] = ReasonCodes.NotAnImage,
        ["pdf-document.jpg"] = ReasonCodes.NotAnImage,
        ["random-bytes.png"] = ReasonCodes.NotAnImage,
        ["svg-image.svg"] = ReasonCodes.UnsupportedFormat,
        ["bomb-png-1bit-40000x40000.png"] = ReasonCodes.TooManyPixels,
        ["bomb-jpeg-header-65000x65000.jpg"] = ReasonCodes.TooManyPixels,
        ["bomb-gif-screen-65535.gif"] = ReasonCodes.TooManyPixels,
        ["many-frames-2000.gif"] = null,
        ["valid-animated-24-frames.gif"] = null,
        ["tiny-4x4.png"] = ReasonCodes.TooSmall,
        ["aspect-4000x20.png"] = ReasonCodes.BadAspect,
        ["valid-cmyk.jpg"] = null,
        ["valid-gray16.png"] = null,
        ["valid-exif-orientation-6.jpg"] = null,
        ["valid.webp"] = null,
        ["valid.bmp"] = null,
        ["valid.tiff"] = ReasonCodes.UnsupportedFormat,
    };

}
