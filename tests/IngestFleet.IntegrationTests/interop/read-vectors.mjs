// Reads IngestFleet vector files with DuckDB, as an index builder would; prints one JSON object per row.
import { DuckDBInstance } from '@duckdb/node-api';
const glob = process.argv[2].replaceAll("'", "''");
const db = await DuckDBInstance.create(':memory:');
const c = await db.connect();
const rows = await c.runAndReadAll(`select item_id, tenant, shard, model_revision, dimension, typeof(embedding) as embedding_type,
  len(embedding) as n, list_sum(list_transform(embedding, x -> x * x)) as norm2, typeof(written_at) as written_at_type,
  array_cosine_similarity(embedding::FLOAT[512], embedding::FLOAT[512]) as self_cosine,
  list_cosine_similarity(embedding, embedding) as self_cosine_list
  from read_parquet('${glob}') order by item_id`);
for (const r of rows.getRowObjectsJson()) console.log(JSON.stringify(r));
