using IngestFleet.Embedding.Models;
using IngestFleet.Embedding.Text;
using IngestFleet.VectorStore;

namespace IngestFleet.Benchmarks;

/// <summary>Generated catalog captions (colour × material × product × detail, 46,200 of them, in a fixed order): the
/// texts whose text-tower vectors the quantisation table and its tests index. Also compiled into the test project.</summary>
public static class CatalogCaptions
{
    public static IEnumerable<string> All()
    {
        string[] colours = ["red", "blue", "green", "black", "white", "grey", "brown", "beige", "navy", "pink", "purple", "yellow", "orange", "gold", "silver"];
        string[] materials = ["leather", "cotton", "denim", "wool", "linen", "silk", "suede", "canvas", "nylon", "velvet", "wooden", "glass", "ceramic", "steel"];
        string[] products = ["handbag", "backpack", "wallet", "belt", "sneakers", "boots", "jacket", "coat", "shirt", "dress", "skirt", "scarf", "hat", "chair",
            "table", "lamp", "mug", "bowl", "vase", "rug", "watch", "ring"];
        string[] details = ["", "with gold buckle", "for kids", "slim fit", "vintage", "size m", "waterproof", "with pockets", "striped", "floral print"];
        foreach (var d in details)
            foreach (var p in products)
                foreach (var m in materials)
                    foreach (var c in colours)
                        yield return $"{c} {m} {p} {d}".Trim();
    }

    /// <summary>The first <paramref name="count"/> captions' vectors from <paramref name="text"/> (the tower of
    /// <paramref name="m"/>), <paramref name="chunk"/> texts per call, as rows the worker would write for tenant acme,
    /// shard s0, items sku-000000 onwards.</summary>
    public static IReadOnlyList<VectorRow> Vectors(ModelManifest m, TextEmbedder text, int count, int chunk, DateTime writtenAt)
    {
        var rows = new List<VectorRow>(count);
        foreach (var texts in All().Take(count).Chunk(chunk))
        {
            var vectors = text.Embed(texts);
            var first = rows.Count;
            rows.AddRange(texts.Select((c, i) => new VectorRow
            {
                ItemId = $"sku-{first + i:D6}", Tenant = "acme", Shard = "s0", Source = c, ModelRevision = m.Revision, Dimension = m.OutputDimension,
                Embedding = vectors[i], PreprocessContract = m.Text!.ContractHash(), WrittenAt = writtenAt,
            }));
        }
        return rows;
    }
}
