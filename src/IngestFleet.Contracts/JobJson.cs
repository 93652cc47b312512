using System.Text.Json;

namespace IngestFleet.Contracts;

/// <summary>The one wire format on the queues: the job as plain JSON (content type <c>application/json</c>), exactly
/// what a producer in any language sends. Every publisher in the fleet serializes with this.</summary>
public static class JobJson
{
    public const string ContentType = "application/json";

    private static readonly JsonSerializerOptions Options = new()
    {
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    public static byte[] Serialize(EmbedCatalogImage job) => JsonSerializer.SerializeToUtf8Bytes(job, Options);

    public static EmbedCatalogImage? Deserialize(ReadOnlySpan<byte> json) => JsonSerializer.Deserialize<EmbedCatalogImage>(json, Options);
}
