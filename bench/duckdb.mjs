// duckdb.mjs - make bench's DuckDB baseline: runs SQL statements on one
// in-memory DuckDB (the pinned npm package of the Parquet interop tests) with
// the thread count given, and prints for each statement its wall time in
// seconds and the peak RSS growth it caused in bytes, one "SECONDS BYTES" line
// per statement. Usage: node duckdb.mjs INTEROP_DIR THREADS SQL...
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";

const [interop, threads, ...sqls] = process.argv.slice(2);
const require = createRequire(interop + "/package.json");
const { DuckDBInstance } = require("@duckdb/node-api");

function status(field) {
  const m = readFileSync("/proc/self/status", "utf8").match(new RegExp(`^${field}:\\s+(\\d+)`, "m"));
  return Number(m[1]) * 1024;
}

const db = await DuckDBInstance.create(":memory:", { threads: String(threads) });
const con = await db.connect();
await con.run("SELECT 1");
for (const sql of sqls) {
  const start = status("VmRSS");
  writeFileSync("/proc/self/clear_refs", "5"); // the peak starts again from here
  const t0 = process.hrtime.bigint();
  await con.run(sql);
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`${dt} ${status("VmHWM") - start}`);
}
