using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NetVips;

namespace IngestFleet.Embedding.Preprocessing;

/// <summary>
/// The fast JPEG path: libvips' thumbnail, which decodes at 1/2, 1/4 or 1/8 scale in the JPEG decoder itself
/// (DCT scaling, "shrink-on-load") before a final resize, so a 4-MP catalog photo is never decoded whole. It runs only
/// after ImageSharp's header checks (format, limits, truncation) passed; it auto-orients by EXIF like the ImageSharp
/// path, resizes to cover the contract's square and crops the centre (or stretches, for <c>squash</c>), and hands back
/// 8-bit RGB. Any failure returns false and the caller takes the ImageSharp path, which gives the reason code.
/// </summary>
internal static partial class VipsJpegPath
{
    /// <summary>
    /// libvips runs every operation on its own worker threads, not on the caller's. Left to itself it starts those on
    /// demand from whichever thread calls, lets idle ones exit, and starts new ones later: a worker started by a decode on
    /// a background (nice 19 / utility QoS) executor thread inherits that priority and may then serve an online decode.
    /// A fixed set, created once when libvips initialises (VIPS_MAX_THREADS, read by vips_init), never grows from a
    /// background thread. The first use comes from an <see cref="ImagePreprocessor"/> constructor, on a normal thread;
    /// bulk decodes then run at normal OS priority, and the priority gate is what holds them back behind online work.
    /// </summary>
    public static int WorkerThreads { get; } = Math.Max(4, 2 * Environment.ProcessorCount);

    private static readonly Lazy<bool> Loaded = new(() =>
    {
        try
        {
            FixWorkerThreads();
            return Initialise();
        }
#pragma warning disable CA1031 // a missing or broken native library means "not available", whatever it throws
        catch (Exception)
#pragma warning restore CA1031
        {
            return false;
        }
    });

    /// <summary>Sets VIPS_MAX_THREADS in the native environment (unless the operator set it), before NetVips loads and
    /// calls vips_init: .NET's Environment.SetEnvironmentVariable does not reach native getenv on Unix.</summary>
    private static void FixWorkerThreads()
    {
        if (OperatingSystem.IsWindows() || Environment.GetEnvironmentVariable("VIPS_MAX_THREADS") is not null) return;
        try
        {
            _ = setenv("VIPS_MAX_THREADS", WorkerThreads.ToString(System.Globalization.CultureInfo.InvariantCulture), 0);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // libvips still works, with its on-demand worker threads
        }
    }

    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int setenv(string name, string value, int overwrite);

    [MethodImpl(MethodImplOptions.NoInlining)] // NetVips' module initializer (vips_init) must run after FixWorkerThreads
    private static bool Initialise()
    {
        if (!ModuleInitializer.VipsInitialized) return false;
        // One thread per operation: the pipeline already decodes one image per core. No operation cache: every image is
        // different, and the cache would hold decoded pixels.
        NetVips.NetVips.Concurrency = 1;
        Cache.Max = 0;
        Cache.MaxMem = 0;
        Cache.MaxFiles = 0;
        return true;
    }

    /// <summary>Whether libvips loaded on this machine.</summary>
    public static bool Available => Loaded.Value;

    public static string Version => Available ? $"{NetVips.NetVips.Version(0)}.{NetVips.NetVips.Version(1)}.{NetVips.NetVips.Version(2)}" : "unavailable";

    /// <summary>
    /// Decodes and resizes <paramref name="jpeg"/> to size × size RGB (row-major, 3 bytes per pixel). With a
    /// <paramref name="yieldPoint"/>, libvips reads the JPEG through a stream that calls it before every read: the JPEG
    /// decoder pulls its input 4 KiB at a time (libvips' <c>libvips/foreign/jpeg2vips.c</c>, SOURCE_BUFFER_SIZE) as it
    /// decodes, on the libvips worker thread doing the work, so a yield point that blocks pauses the decode itself, about
    /// every 4 KiB of compressed input (a 2048-px catalog JPEG: over a hundred points). The pixels are the same either way
    /// (the same JPEG loader and shrink; a test compares them byte for byte).
    /// </summary>
    public static byte[]? TryThumbnail(byte[] jpeg, int size, bool squash, Action? yieldPoint = null)
    {
        if (!Available) return null;
        try
        {
            var fit = squash ? Enums.Size.Force : Enums.Size.Both;
            Enums.Interesting? crop = squash ? null : Enums.Interesting.Centre;
            using var source = yieldPoint is null ? null : YieldingSource(jpeg, yieldPoint);
            using var thumb = source is null
                ? Image.ThumbnailBuffer(jpeg, size, height: size, size: fit, crop: crop, failOn: Enums.FailOn.Error)
                : Image.ThumbnailSource(source, size, height: size, size: fit, crop: crop, failOn: Enums.FailOn.Error);
            Image rgb = thumb;
            Image? converted = null;
            try
            {
                if (thumb.Bands == 1 || thumb.Interpretation != Enums.Interpretation.Srgb)
                    rgb = converted = thumb.Colourspace(Enums.Interpretation.Srgb);
                if (rgb.Bands != 3 || rgb.Width != size || rgb.Height != size || rgb.Format != Enums.BandFormat.Uchar) return null;
                return rgb.WriteToMemory<byte>();
            }
            finally
            {
                converted?.Dispose();
            }
        }
        catch (VipsException)
        {
            return null;
        }
    }

    /// <summary>The JPEG's bytes as a seekable libvips source (so libvips reads from it as it decodes rather than copying
    /// it first) that calls the yield point before each read. The yield point must not throw: it runs inside a native
    /// callback.</summary>
    private static SourceCustom YieldingSource(byte[] jpeg, Action yieldPoint)
    {
        var source = new SourceCustom();
        var position = 0L;
        source.OnRead += (buffer, length) =>
        {
            yieldPoint();
            var n = (int)Math.Clamp(jpeg.LongLength - position, 0, Math.Min(length, buffer.Length));
            Array.Copy(jpeg, position, buffer, 0, n);
            position += n;
            return n;
        };
        source.OnSeek += (offset, origin) =>
        {
            var target = origin switch
            {
                SeekOrigin.Begin => offset,
                SeekOrigin.Current => position + offset,
                _ => jpeg.LongLength + offset,
            };
            if (target < 0 || target > jpeg.LongLength) return -1;
            return position = target;
        };
        return source;
    }
}
