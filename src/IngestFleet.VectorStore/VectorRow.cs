using System.Text.Json.Serialization;


namespace IngestFleet.VectorStore;

/// <summary>One row of a vectors Parquet file. Column names are the JSON names; pyarrow and DuckDB read them as is.</summary>
public sealed class VectorRow
{
    [JsonPropertyName("item_id")] public string ItemId { get; set; } = "";
    [JsonPropertyName("tenant")] public string Tenant { get; set; } = "";
    [JsonPropertyName("shard")] public string Shard { get; set; } = "";
    [JsonPropertyName("source")] public string Source { get; set; } = "";
    [JsonPropertyName("model_revision")] public string ModelRevision { get; set; } = "";
    [JsonPropertyName("dimension")] public int Dimension { get; set; }
    [JsonPropertyName("embedding")] public float[] Embedding { get; set; } = [];
    [JsonPropertyName("preprocess_contract")] public string PreprocessContract { get; set; } = "";
    [JsonPropertyName("written_at")] public DateTime WrittenAt { get; set; }
}
