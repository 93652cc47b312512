using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace IngestFleet.Embedding.Inference;

/// <summary>
/// One copy of a model's weights for every CPU session of that model in the process. The float initializers stored
/// inline in the ONNX file are copied once into native buffers that this object owns, and each session is told to use
/// them (ORT's shared initializers, <c>SessionOptions.AddInitializer</c>) instead of deserializing its own. Prepacking
/// is turned off for those sessions: a prepacked weight is a second, per-session copy (measured on the ViT-B/32-size
/// tower: +360 MiB a session with it, +20–40 MiB without; batch time the same within noise).
/// Must outlive every session created with it; dispose it after them.
/// </summary>
public sealed class SharedWeights : IDisposable
{
    /// <summary>Initializers smaller than this stay in each session (not worth a shared buffer).</summary>
    public const long MinSharedBytes = 4096;

    private readonly List<(string Name, OrtValue Value, IntPtr Buffer)> _tensors;
    private int _disposed;

    private SharedWeights(List<(string, OrtValue, IntPtr)> tensors, long bytes)
    {
        _tensors = tensors;
        Bytes = bytes;
    }

    /// <summary>The bytes held once (and no longer per session).</summary>
    public long Bytes { get; }

    public int Count => _tensors.Count;

    public IEnumerable<string> Names => _tensors.Select(t => t.Name);

    /// <summary>Reads the float initializers of <paramref name="onnxPath"/> (memory-mapped, so no managed copy).</summary>
    public static unsafe SharedWeights Load(string onnxPath)
    {
        var tensors = new List<(string, OrtValue, IntPtr)>();
        long total = 0;
        using var file = MemoryMappedFile.CreateFromFile(onnxPath, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        using var view = file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* start = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref start);
        try
        {
            var model = start + view.PointerOffset;
            // The view's length is rounded up to whole pages; the file's is the model's.
            var length = Math.Min((long)view.SafeMemoryMappedViewHandle.ByteLength, new FileInfo(onnxPath).Length);
            foreach (var t in OnnxInitializers.Read(new ReadOnlySpanReader(model, length)))
            {
                if (t.DataType != OnnxInitializers.Float || t.RawLength < MinSharedBytes || t.External) continue;
                var buffer = (IntPtr)NativeMemory.AlignedAlloc((nuint)t.RawLength, 64);
                Buffer.MemoryCopy(model + t.RawOffset, (void*)buffer, t.RawLength, t.RawLength);
                tensors.Add((t.Name, OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorElementType.Float, t.Dims, buffer, t.RawLength), buffer));
                total += t.RawLength;
            }
        }
        catch
        {
            Free(tensors);
            throw;
        }
        finally
        {
            view.SafeMemoryMappedViewHandle.ReleasePointer();
        }
        return new SharedWeights(tensors, total);
    }

    /// <summary>Points a session's options at the shared buffers.</summary>
    public void ApplyTo(SessionOptions options)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        foreach (var (name, value, _) in _tensors) options.AddInitializer(name, value);
        options.AddSessionConfigEntry("session.disable_prepacking", "1");
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        Free(_tensors);
    }

    private static unsafe void Free(List<(string Name, OrtValue Value, IntPtr Buffer)> tensors)
    {
        foreach (var (_, value, buffer) in tensors)
        {
            value.Dispose();
            NativeMemory.AlignedFree((void*)buffer);
        }
        tensors.Clear();
    }
}

/// <summary>A bounds-checked cursor over native memory (the memory-mapped model file).</summary>
internal unsafe struct ReadOnlySpanReader(byte* start, long length)
{
    public long Position;

    public readonly bool AtEnd => Position >= length;

    public ulong Varint()
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (Position >= length) throw new InvalidDataException("ONNX file: truncated varint");
            var b = start[Position++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return value;
        }
        throw new InvalidDataException("ONNX file: malformed varint");
    }

    public long Length32Or64()
    {
        var n = (long)Varint();
        if (n < 0 || n > length - Position) throw new InvalidDataException("ONNX file: a field runs past the end");
        return n;
    }

    public readonly string Utf8(long offset, long count) => System.Text.Encoding.UTF8.GetString(start + offset, checked((int)count));

    public void Skip(int wireType)
    {
        switch (wireType)
        {
            case 0: Varint(); break;
            case 1: Advance(8); break;
            case 2: Advance(Length32Or64()); break;
            case 5: Advance(4); break;
            default: throw new InvalidDataException($"ONNX file: unsupported wire type {wireType}");
        }
    }

    public void Advance(long count)
    {
        if (count > length - Position) throw new InvalidDataException("ONNX file: a field runs past the end");
        Position += count;
    }
}

/// <summary>
/// Just enough of the ONNX protobuf schema to find the graph's initializers without deserializing the model:
/// ModelProto.graph (7) → GraphProto.initializer (5) → TensorProto dims (1), data_type (2), name (8), raw_data (9),
/// data_location (14).
/// </summary>
internal static class OnnxInitializers
{
    public const int Float = 1;

    public sealed record Tensor(string Name, int DataType, long[] Dims, long RawOffset, long RawLength, bool External);

    public static List<Tensor> Read(ReadOnlySpanReader model)
    {
        var found = new List<Tensor>();
        while (!model.AtEnd)
        {
            var (field, wire) = Tag(ref model);
            if (field == 7 && wire == 2)
            {
                var graphLength = model.Length32Or64();
                var graphEnd = model.Position + graphLength;
                while (model.Position < graphEnd)
                {
                    var (gField, gWire) = Tag(ref model);
                    if (gField == 5 && gWire == 2)
                    {
                        var tensorLength = model.Length32Or64();
                        found.Add(ReadTensor(ref model, model.Position + tensorLength));
                    }
                    else model.Skip(gWire);
                }
            }
            else model.Skip(wire);
        }
        return found;
    }

    private static Tensor ReadTensor(ref ReadOnlySpanReader r, long end)
    {
        var dims = new List<long>();
        int dataType = 0;
        string name = "";
        long rawOffset = 0, rawLength = 0;
        var external = false;
        while (r.Position < end)
        {
            var (field, wire) = Tag(ref r);
            switch (field)
            {
                case 1 when wire == 0:
                    dims.Add((long)r.Varint());
                    break;
                case 1 when wire == 2: // packed
                    var packedLength = r.Length32Or64();
                    var packedEnd = r.Position + packedLength;
                    while (r.Position < packedEnd) dims.Add((long)r.Varint());
                    break;
                case 2 when wire == 0:
                    dataType = (int)r.Varint();
                    break;
                case 8 when wire == 2:
                    var nameLength = r.Length32Or64();
                    name = r.Utf8(r.Position, nameLength);
                    r.Advance(nameLength);
                    break;
                case 9 when wire == 2:
                    rawLength = r.Length32Or64();
                    rawOffset = r.Position;
                    r.Advance(rawLength);
                    break;
                case 14 when wire == 0:
                    external = r.Varint() == 1;
                    break;
                default:
                    r.Skip(wire);
                    break;
            }
        }
        if (r.Position != end) throw new InvalidDataException("ONNX file: an initializer runs past its length");
        var expected = dims.Aggregate(4L, (a, d) => a * d);
        // A float tensor whose raw bytes do not match its shape is left to ORT, which reports it properly.
        if (dataType == Float && rawLength != expected) rawLength = 0;
        return new Tensor(name, dataType, [.. dims], rawOffset, rawLength, external);
    }

    private static (int Field, int Wire) Tag(ref ReadOnlySpanReader r)
    {
        var tag = r.Varint();
        return ((int)(tag >> 3), (int)(tag & 7));
    }
}
