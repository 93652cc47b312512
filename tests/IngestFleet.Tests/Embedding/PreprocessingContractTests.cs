using IngestFleet.Embedding.Models;
using IngestFleet.Embedding.Preprocessing;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace IngestFleet.Tests.Embedding;

public class PreprocessingContractTests
{
    private const int Size = 224;
    private const int Plane = Size * Size;

    private static byte[] Png<TPixel>(Image<TPixel> image) where TPixel : unmanaged, IPixel<TPixel>
    {
        using var ms = new MemoryStream();
        image.SaveAsPng(ms);
        return ms.ToArray();
    }

    private static float[] Run(PreprocessContract contract, byte[] bytes)
    {
        var p = new ImagePreprocessor(contract);
        var tensor = new float[p.TensorLength];
        var outcome = p.Preprocess(bytes, tensor);
        Assert.True(outcome.Ok, $"{outcome.Reason}: {outcome.Detail}");
        return tensor;
    }

    [Theory]
    [InlineData("clip", 200, 30, 90)]
    [InlineData("siglip", 200, 30, 90)]
    [InlineData("clip", 0, 255, 128)]
    public void SolidColour_GivesExactlyTheNormalisedChannelValues(string family, byte r, byte g, byte b)
    {
        var contract = family == "clip" ? PreprocessContracts.Clip(Size) : PreprocessContracts.SigLip(Size);
        using var image = new Image<Rgb24>(640, 480, new Rgb24(r, g, b));
        var tensor = Run(contract, Png(image));
        // (v/255 − mean)/std in double, rounded once: the contract's formula, independent of the implementation's LUT.
        float Expected(int c, byte v) => (float)((v * (1.0 / 255.0) - contract.Mean[c]) / contract.Std[c]);
        Assert.All(tensor.AsSpan(0, Plane).ToArray(), v => Assert.Equal(Expected(0, r), v));
        Assert.All(tensor.AsSpan(Plane, Plane).ToArray(), v => Assert.Equal(Expected(1, g), v));
        Assert.All(tensor.AsSpan(2 * Plane, Plane).ToArray(), v => Assert.Equal(Expected(2, b), v));
        if (family == "siglip")
            Assert.Equal((float)((200 / 255.0 - 0.5) / 0.5), tensor[0]);
    }

    /// <summary>Paints columns [from, to) of every row.</summary>
    private static void Fill(Image<Rgb24> image, Rgb24 colour, int from, int to)
    {
        for (var y = 0; y < image.Height; y++)
            for (var x = from; x < to; x++)
                image[x, y] = colour;
    }

    /// <summary>A 448×224 image: red left quarter, green middle half, blue right quarter.</summary>
    private static byte[] Stripes()
    {
        using var image = new Image<Rgb24>(448, 224, new Rgb24(0, 255, 0));
        Fill(image, new Rgb24(255, 0, 0), 0, 112);
        Fill(image, new Rgb24(0, 0, 255), 336, 448);
        return Png(image);
    }

    [Fact]
    public void NonSquare_ClipCropsTheCentre()
    {
        var contract = PreprocessContracts.Clip(Size);
        var t = Run(contract, Stripes());
        // Shortest edge is already 224, so the centre 224 columns are the green half: no red or blue survives.
        var green = (float)((1.0 - contract.Mean[1]) / contract.Std[1]);
        Assert.Equal(green, t[Plane + 100 * Size + 5]);
        Assert.Equal(green, t[Plane + 100 * Size + 218]);
        Assert.Equal((float)((0 - contract.Mean[0]) / contract.Std[0]), t[100 * Size + 5]);
    }

    [Fact]
    public void NonSquare_SigLipSquashesTheWholeImage()
    {
        var contract = PreprocessContracts.SigLip(Size);
        var t = Run(contract, Stripes());
        // Squashed to half width: red occupies columns 0..55, blue 168..223.
        Assert.Equal(1f, t[100 * Size + 5]);               // R channel, left edge: red
        Assert.Equal(-1f, t[Plane + 100 * Size + 5]);      // G channel there: 0
        Assert.Equal(1f, t[2 * Plane + 100 * Size + 218]); // B channel, right edge: blue
        Assert.Equal(1f, t[Plane + 100 * Size + 112]);     // G channel, centre: green
    }

    [Fact]
    public void TransparentPixels_AreFlattenedOntoTheDocumentedWhiteBackground()
    {
        var contract = PreprocessContracts.SigLip(Size);
        using var image = new Image<Rgba32>(300, 300, new Rgba32(0, 0, 0, 0));
        var t = Run(contract, Png(image));
        Assert.All(t, v => Assert.Equal(1f, v)); // white = (1 − 0.5)/0.5 on every channel
    }

    [Fact]
    public void ExifOrientation6_IsRotatedBeforeResizing()
    {
        // A 200×100 JPEG whose pixels are stored left-red/right-blue, tagged "rotate 90° clockwise to display".
        using var image = new Image<Rgb24>(200, 100, new Rgb24(255, 0, 0));
        Fill(image, new Rgb24(0, 0, 255), 100, 200);
        image.Metadata.ExifProfile = new SixLabors.ImageSharp.Metadata.Profiles.Exif.ExifProfile();
        image.Metadata.ExifProfile.SetValue(SixLabors.ImageSharp.Metadata.Profiles.Exif.ExifTag.Orientation, (ushort)6);
        using var ms = new MemoryStream();
        image.SaveAsJpeg(ms, new SixLabors.ImageSharp.Formats.Jpeg.JpegEncoder { Quality = 100 });
        var contract = PreprocessContracts.SigLip(Size);
        var t = Run(contract, ms.ToArray());
        // Displayed upright it is 100×200: red on top, blue below.
        Assert.True(t[10 * Size + 112] > 0.9f, "top should be red");
        Assert.True(t[2 * Plane + 210 * Size + 112] > 0.9f, "bottom should be blue");
    }
}
