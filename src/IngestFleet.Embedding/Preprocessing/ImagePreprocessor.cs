using System.Diagnostics;
using System.Globalization;
using IngestFleet.Contracts;
using IngestFleet.Embedding.Models;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Advanced;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Formats.Webp;
using SixLabors.ImageSharp.Memory;
using SixLabors.ImageSharp.Metadata;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace IngestFleet.Embedding.Preprocessing;

/// <summary>
/// Turns untrusted encoded bytes into one NCHW float image of a model's preprocessing contract, or a reason code.
/// Order: byte limits → format sniff and allow-list → Identify (header only) and pixel/side/aspect limits →
/// truncation check → a share of the decode budget by area → decode (first frame, metadata ignored except JPEG EXIF)
/// under an allocation cap →
/// EXIF auto-orient → resize per contract → flatten alpha → normalise straight into the caller's span.
/// Thread-safe; one instance per contract. Never throws for bad input.
/// </summary>
public sealed class ImagePreprocessor
{
    private readonly PreprocessContract _contract;
    private readonly ImageLimits _limits;
    private readonly Configuration _config;
    private readonly HashSet<string> _allowed;
    private readonly float[][] _lut = new float[3][];
    private readonly Rgb24 _background;
    private readonly ResizeOptions _resize;
    private readonly bool _bgr;
    private readonly bool _vipsJpeg;
    private readonly Configuration _identifyJpeg;
    private long _vipsDecoded;
    private long _fallbacks;

    /// <summary>The pixels this preprocessor decodes at once (one preprocessor per worker process: process-wide).</summary>
    public DecodeBudget Budget { get; }

    public ImagePreprocessor(PreprocessContract contract, ImageLimits? limits = null, int maxDegreeOfParallelism = 1)
    {
        _contract = contract;
        _limits = limits ?? new ImageLimits();
        _allowed = new HashSet<string>(_limits.AllowedFormats, StringComparer.OrdinalIgnoreCase);
        Budget = new DecodeBudget(_limits.DecodeBudgetPixels);
        _config = Configuration.Default.Clone();
        _config.MaxDegreeOfParallelism = maxDegreeOfParallelism;
        _config.MemoryAllocator = MemoryAllocator.Create(new MemoryAllocatorOptions { AllocationLimitMegabytes = _limits.AllocationLimitMegabytes });
        // Metadata bombs (a zTXt chunk inflating to gigabytes) live in PNG/GIF/WebP text chunks: never read them.
        _config.ImageFormatsManager.SetDecoder(PngFormat.Instance, new PngDecoder { IgnoreMetadata = true });
        _config.ImageFormatsManager.SetDecoder(GifFormat.Instance, new GifDecoder { IgnoreMetadata = true, DecodingMode = FrameDecodingMode.First });
        _config.ImageFormatsManager.SetDecoder(WebpFormat.Instance, new WebpDecoder { IgnoreMetadata = true });
        // JPEG keeps its EXIF: the orientation tag is needed to auto-orient.
        _config.ImageFormatsManager.SetDecoder(JpegFormat.Instance, new JpegDecoder { IgnoreMetadata = false });

        _bgr = contract.ChannelOrder == "bgr";
        _vipsJpeg = _limits.JpegDecoder == "libvips" && VipsJpegPath.Available;
        // On the fast path the JPEG header check needs only the frame size (libvips reads the orientation itself): skip
        // parsing EXIF, ICC and XMP there.
        _identifyJpeg = _config;
        if (_vipsJpeg)
        {
            _identifyJpeg = _config.Clone();
            _identifyJpeg.ImageFormatsManager.SetDecoder(JpegFormat.Instance, new JpegDecoder { IgnoreMetadata = true });
        }
        for (var c = 0; c < 3; c++)
        {
            _lut[c] = new float[256];
            for (var v = 0; v < 256; v++)
                _lut[c][v] = Normalise(c, v);
        }
        var bg = contract.AlphaBackground;
        _background = new Rgb24(
            byte.Parse(bg.AsSpan(1, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture),
            byte.Parse(bg.AsSpan(3, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture),
            byte.Parse(bg.AsSpan(5, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
        _resize = new ResizeOptions
        {
            Size = new Size(contract.Size, contract.Size),
            Mode = contract.ResizeMode == Models.ResizeMode.Squash ? SixLabors.ImageSharp.Processing.ResizeMode.Stretch : SixLabors.ImageSharp.Processing.ResizeMode.Crop,
            Position = AnchorPositionMode.Center,
            Sampler = contract.Resampler == "bilinear" ? KnownResamplers.Triangle : KnownResamplers.Bicubic,
            Compand = false,
            PremultiplyAlpha = true,
        };
    }

    public PreprocessContract Contract => _contract;

    /// <summary>The JPEG decode path in use: <c>libvips</c> (shrink-on-load) or <c>imagesharp</c>.</summary>
    public string JpegDecoder => _vipsJpeg ? "libvips" : "imagesharp";

    /// <summary>Why the configured decoder is not the one in use (libvips could not be loaded), or null.</summary>
    public string? DecoderNote => _limits.JpegDecoder == "libvips" && !_vipsJpeg ? "libvips could not be loaded; JPEGs take the ImageSharp path" : null;

    /// <summary>The hash written next to each vector: the model's contract plus the JPEG decode path.</summary>
    public string ContractHash => _contract.ContractHash(JpegDecoder);

    /// <summary>JPEGs decoded by libvips, and JPEGs it could not read that took the ImageSharp path, since start.</summary>
    public (long Vips, long Fallbacks) JpegCounts => (Interlocked.Read(ref _vipsDecoded), Interlocked.Read(ref _fallbacks));
    public ImageLimits Limits => _limits;

    /// <summary>Floats one image occupies in the tensor (3 × size × size).</summary>
    public int TensorLength => 3 * _contract.Size * _contract.Size;

    /// <summary>
    /// The contract's value for channel <paramref name="channel"/> (0 = R) at 8-bit level <paramref name="level"/>:
    /// (level × rescale − mean) ÷ std, in double, rounded once to float. Tests pin outputs against this.
    /// </summary>
    public float Normalise(int channel, double level) =>
        (float)((level * _contract.RescaleFactor - _contract.Mean[channel]) / _contract.Std[channel]);

    /// <summary>Checks, decodes and normalises one image into <paramref name="destination"/>. A <paramref name="yieldPoint"/>
    /// is called again and again inside a libvips JPEG decode (see <see cref="VipsJpegPath.TryThumbnail"/>); one that blocks
    /// pauses the decode.</summary>
    public PreprocessOutcome Preprocess(ReadOnlyMemory<byte> data, Span<float> destination, Action? yieldPoint = null)
    {
        if (destination.Length < TensorLength)
            throw new ArgumentException($"destination holds {destination.Length} floats, an image needs {TensorLength}.", nameof(destination));
        var started = Stopwatch.GetTimestamp();
        var outcome = Run(data, destination, yieldPoint);
        return outcome with { Elapsed = Stopwatch.GetElapsedTime(started) };
    }

    private PreprocessOutcome Run(ReadOnlyMemory<byte> data, Span<float> destination, Action? yieldPoint)
    {
        var span = data.Span;
        if (span.Length == 0)
            return PreprocessOutcome.Rejected(ReasonCodes.Empty, "the input has zero bytes");
        if (span.Length > _limits.MaxBytes)
            return PreprocessOutcome.Rejected(ReasonCodes.TooManyBytes, $"{span.Length} bytes exceeds the {_limits.MaxBytes}-byte limit");

        var format = Image.DetectFormat(_config, span);
        if (format is null)
            return Sniff(span);
        if (!_allowed.Contains(format.Name))
            return PreprocessOutcome.Rejected(ReasonCodes.UnsupportedFormat, $"{format.Name} is not on the format allow-list ({string.Join(", ", _limits.AllowedFormats)})", format.Name);

        IImageInfo? info;
        try
        {
            using var stream = AsStream(data);
            info = Image.Identify(format == JpegFormat.Instance ? _identifyJpeg : _config, stream);
        }
#pragma warning disable CA1031 // decoders throw assorted exception types on hostile input; every one must become a reason code
        catch (Exception e)
#pragma warning restore CA1031
        {
            return Classify(e, format.Name, 0, 0);
        }
        if (info is null)
            return PreprocessOutcome.Rejected(ReasonCodes.NotAnImage, $"{format.Name} header could not be read", format.Name);
        int w = info.Width, h = info.Height;
        if (w <= 0 || h <= 0)
            return PreprocessOutcome.Rejected(ReasonCodes.Corrupt, $"header declares {w}×{h} pixels", format.Name, w, h);
        if ((long)w * h > _limits.MaxPixels || Math.Max(w, h) > _limits.MaxSide)
            return PreprocessOutcome.Rejected(ReasonCodes.TooManyPixels,
                $"{w}×{h} exceeds the limits ({_limits.MaxPixels} pixels, {_limits.MaxSide} px per side); refused before decoding", format.Name, w, h);
        if (Math.Min(w, h) < _limits.MinSide)
            return PreprocessOutcome.Rejected(ReasonCodes.TooSmall, $"{w}×{h} is below the {_limits.MinSide}-px shortest-side minimum", format.Name, w, h);
        var aspect = (double)Math.Max(w, h) / Math.Min(w, h);
        if (aspect > _limits.MaxAspect)
            return PreprocessOutcome.Rejected(ReasonCodes.BadAspect, $"aspect {aspect:0.#}:1 exceeds {_limits.MaxAspect}:1", format.Name, w, h);
        if (TruncationProblem(format, span) is { } truncated)
            return PreprocessOutcome.Rejected(ReasonCodes.Truncated, truncated, format.Name, w, h);

        // Every check passed: the decode takes its area of the process's decode budget before any pixel is allocated.
        using var _ = Budget.Enter(w, h);
        if (_vipsJpeg && format == JpegFormat.Instance)
        {
            var bytes = System.Runtime.InteropServices.MemoryMarshal.TryGetArray(data, out var seg) && seg.Offset == 0 && seg.Count == seg.Array!.Length
                ? seg.Array : data.ToArray();
            if (VipsJpegPath.TryThumbnail(bytes, _contract.Size, _contract.ResizeMode == Models.ResizeMode.Squash, yieldPoint) is { } rgb)
            {
                WriteRgbBytes(rgb, destination);
                Interlocked.Increment(ref _vipsDecoded);
                return PreprocessOutcome.Accepted(format.Name, w, h);
            }
            Interlocked.Increment(ref _fallbacks); // ImageSharp decides what it is (usually corrupt)
        }

        try
        {
            using var stream = AsStream(data);
            if (format == JpegFormat.Instance)
            {
                // JPEG has no alpha: decoding straight to 24-bit saves a channel through decode and resize.
                using var image = Image.Load<Rgb24>(_config, stream);
                Prepare(image);
                WriteRgb(image, destination);
            }
            else
            {
                using var image = Image.Load<Rgba32>(_config, stream);
                Prepare(image);
                WriteRgba(image, destination);
            }
        }
#pragma warning disable CA1031 // decoders throw assorted exception types on hostile input; every one must become a reason code
        catch (Exception e)
#pragma warning restore CA1031
        {
            return Classify(e, format.Name, w, h);
        }
        return PreprocessOutcome.Accepted(format.Name, w, h);
    }

    private void Prepare<TPixel>(Image<TPixel> image) where TPixel : unmanaged, IPixel<TPixel>
    {
        var orientation = image.Metadata.ExifProfile?.GetValue(SixLabors.ImageSharp.Metadata.Profiles.Exif.ExifTag.Orientation);
        image.Mutate(x =>
        {
            if (orientation is not null && orientation.Value > 1)
                x.AutoOrient();
            x.Resize(_resize);
        });
    }

    private void WriteRgb(Image<Rgb24> image, Span<float> destination)
    {
        var plane = _contract.Size * _contract.Size;
        var size = _contract.Size;
        int r = _bgr ? 2 : 0, b = _bgr ? 0 : 2;
        var lutR = _lut[0];
        var lutG = _lut[1];
        var lutB = _lut[2];
        var dest = destination;
        for (var y = 0; y < image.Height; y++)
        {
            var row = image.DangerousGetPixelRowMemory(y).Span;
            var rOut = dest.Slice(r * plane + y * size, size);
            var gOut = dest.Slice(plane + y * size, size);
            var bOut = dest.Slice(b * plane + y * size, size);
            for (var x = 0; x < row.Length; x++)
            {
                rOut[x] = lutR[row[x].R];
                gOut[x] = lutG[row[x].G];
                bOut[x] = lutB[row[x].B];
            }
        }
    }

    private void WriteRgbBytes(byte[] rgb, Span<float> destination)
    {
        var plane = _contract.Size * _contract.Size;
        int r = _bgr ? 2 : 0, b = _bgr ? 0 : 2;
        var lutR = _lut[0];
        var lutG = _lut[1];
        var lutB = _lut[2];
        var rOut = destination.Slice(r * plane, plane);
        var gOut = destination.Slice(plane, plane);
        var bOut = destination.Slice(b * plane, plane);
        for (int i = 0, p = 0; i < plane; i++, p += 3)
        {
            rOut[i] = lutR[rgb[p]];
            gOut[i] = lutG[rgb[p + 1]];
            bOut[i] = lutB[rgb[p + 2]];
        }
    }

    private void WriteRgba(Image<Rgba32> image, Span<float> destination)
    {
        var plane = _contract.Size * _contract.Size;
        var size = _contract.Size;
        int r = _bgr ? 2 : 0, b = _bgr ? 0 : 2;
        var bg = _background;
        var dest = destination;
        for (var y = 0; y < image.Height; y++)
        {
            var row = image.DangerousGetPixelRowMemory(y).Span;
            var rOut = dest.Slice(r * plane + y * size, size);
            var gOut = dest.Slice(plane + y * size, size);
            var bOut = dest.Slice(b * plane + y * size, size);
            for (var x = 0; x < row.Length; x++)
            {
                var p = row[x];
                if (p.A == 255)
                {
                    rOut[x] = _lut[0][p.R];
                    gOut[x] = _lut[1][p.G];
                    bOut[x] = _lut[2][p.B];
                }
                else
                {
                    // Flatten onto the contract's background: c·α + bg·(1 − α).
                    var a = p.A / 255.0;
                    rOut[x] = Normalise(0, p.R * a + bg.R * (1 - a));
                    gOut[x] = Normalise(1, p.G * a + bg.G * (1 - a));
                    bOut[x] = Normalise(2, p.B * a + bg.B * (1 - a));
                }
            }
        }
    }

    private static MemoryStream AsStream(ReadOnlyMemory<byte> data) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray(data, out var segment)
            ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
            : new MemoryStream(data.ToArray(), writable: false);

    /// <summary>Names what an unrecognised file is, where that helps an operator.</summary>
    private static PreprocessOutcome Sniff(ReadOnlySpan<byte> span)
    {
        var head = System.Text.Encoding.ASCII.GetString(span[..Math.Min(span.Length, 512)]).TrimStart('\uFEFF', ' ', '\t', '\r', '\n');
        if (head.StartsWith("<svg", StringComparison.OrdinalIgnoreCase) || (head.StartsWith("<?xml", StringComparison.OrdinalIgnoreCase) && head.Contains("<svg", StringComparison.OrdinalIgnoreCase)))
            return PreprocessOutcome.Rejected(ReasonCodes.UnsupportedFormat, "SVG (vector) images are not on the format allow-list", "SVG");
        if (head.StartsWith("%PDF", StringComparison.Ordinal))
            return PreprocessOutcome.Rejected(ReasonCodes.NotAnImage, "the bytes are a PDF document");
        if (head.StartsWith("<!doctype html", StringComparison.OrdinalIgnoreCase) || head.StartsWith("<html", StringComparison.OrdinalIgnoreCase))
            return PreprocessOutcome.Rejected(ReasonCodes.NotAnImage, "the bytes are an HTML page (an error page saved as an image?)");
        return PreprocessOutcome.Rejected(ReasonCodes.NotAnImage, "no known image signature");
    }

    /// <summary>
    /// ImageSharp 2.1 decodes a cut-off JPEG without an error (grey fill), so the end of the stream is checked:
    /// JPEG needs an EOI marker after its last SOS (0xFF is byte-stuffed inside scan data, so the pair cannot occur
    /// there), PNG an IEND chunk after its last IDAT, WebP as many bytes as its RIFF header declares.
    /// </summary>
    private static string? TruncationProblem(IImageFormat format, ReadOnlySpan<byte> span)
    {
        if (format == JpegFormat.Instance)
        {
            var sos = span.LastIndexOf([(byte)0xFF, (byte)0xDA]);
            var eoi = span.LastIndexOf([(byte)0xFF, (byte)0xD9]);
            return eoi < 0 || eoi < sos ? "JPEG stream ends before its end-of-image marker" : null;
        }
        if (format == PngFormat.Instance)
        {
            var idat = span.LastIndexOf("IDAT"u8);
            var iend = span.LastIndexOf("IEND"u8);
            return iend < 0 || iend < idat ? "PNG stream ends before its IEND chunk" : null;
        }
        if (format == WebpFormat.Instance && span.Length >= 8)
        {
            var declared = (long)System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(span.Slice(4, 4)) + 8;
            return declared > span.Length ? $"WebP declares {declared} bytes, only {span.Length} present" : null;
        }
        return null;
    }

    private static PreprocessOutcome Classify(Exception e, string format, int w, int h) => e switch
    {
        InvalidMemoryOperationException => PreprocessOutcome.Rejected(ReasonCodes.AllocationLimit, $"decoding would exceed the allocation cap: {e.Message}", format, w, h),
        UnknownImageFormatException => PreprocessOutcome.Rejected(ReasonCodes.NotAnImage, e.Message, format, w, h),
        EndOfStreamException => PreprocessOutcome.Rejected(ReasonCodes.Truncated, $"{format} stream ended early: {e.Message}", format, w, h),
        OutOfMemoryException => PreprocessOutcome.Rejected(ReasonCodes.AllocationLimit, e.Message, format, w, h),
        // Decoders throw assorted types on corrupt input (InvalidImageContent, IndexOutOfRange, InvalidOperation…).
        _ => PreprocessOutcome.Rejected(ReasonCodes.Corrupt, $"{format} decoder failed ({e.GetType().Name}): {e.Message}", format, w, h),
    };
}
