// duck_sql.mjs - run SQL statements in DuckDB (in memory, one thread), one
// per argument, in order: how Python tests have DuckDB write a Parquet file
// (COPY ... TO) or export one it reads as JSON, as an independent reader and
// writer. Usage: node duck_sql.mjs 'SQL' ['SQL' ...]
import { DuckDBInstance } from "@duckdb/node-api";

const conn = await (await DuckDBInstance.create(":memory:", { threads: "1" })).connect();
for (const sql of process.argv.slice(2)) await conn.run(sql);
