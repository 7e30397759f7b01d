// store_codecs.mjs - tables in a store follow its codec. For each store
// codec, `put --csv` (several row groups) and DuckDB reads the stored file:
// parquet_metadata() shows the codec `meta` reports in every column chunk,
// and the rows are exactly the CSV's (EXCEPT ALL both ways, row counts).
// Usage: node store_codecs.mjs BLOBSTORE_CLI WORKDIR
import { execFileSync } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";

const [cli, dir] = process.argv.slice(2);
let passed = 0, failed = 0;
function check(ok, what) {
  if (ok) passed++;
  else { failed++; console.error("FAIL: " + what); }
}

// A seeded CSV: ints, doubles, a low-cardinality string, a nullable int,
// bools with empties, dates.
let seed = 20260402n;
function rnd() {
  seed ^= (seed << 13n) & 0xffffffffffffffffn; seed ^= seed >> 7n; seed ^= (seed << 17n) & 0xffffffffffffffffn;
  return Number(seed & 0xffffffn);
}
const rows = ["id,x,country,maybe,ok,day"];
const words = ["US", "FR", "DE", "a \"quoted\", word", ""];
for (let i = 0; i < 5003; i++) {
  const w = words[rnd() % 5];
  const country = w.includes(",") ? `"${w.replace(/"/g, '""')}"` : w;
  const maybe = rnd() % 20 === 0 ? "" : String(rnd() - 8000000);
  const ok = rnd() % 7 === 0 ? "" : rnd() % 2 ? "true" : "false";
  const day = new Date(Date.UTC(1990, 0, 1) + (rnd() % 20000) * 86400000).toISOString().slice(0, 10);
  rows.push(`${i},${((rnd() * 16777216 + rnd()) / 7919 - 1e9).toPrecision(17)},${country},${maybe},${ok},${day}`);
}
const csv = join(dir, "t.csv");
writeFileSync(csv, rows.join("\n") + "\n");
const columns = "{'id': 'BIGINT', 'x': 'DOUBLE', 'country': 'VARCHAR', 'maybe': 'BIGINT', 'ok': 'BOOLEAN', 'day': 'DATE'}";

function findFile(root, name) {
  for (const e of readdirSync(root, { withFileTypes: true })) {
    const p = join(root, e.name);
    if (e.isDirectory()) { const f = findFile(p, name); if (f) return f; }
    else if (e.name === name) return p;
  }
  return null;
}

const instance = await DuckDBInstance.create(":memory:");
const conn = await instance.connect();
const cases = [
  ["lz4", "lz4_raw", "LZ4_RAW"], ["zstd", "zstd", "ZSTD"], ["gzip", "gzip", "GZIP"],
  ["none", "none", "UNCOMPRESSED"], ["blosclz", "snappy", "SNAPPY"],
];
const env = { ...process.env, BLOBSTORE_PARQUET_ROW_GROUP_ROWS: "1000", BLOBSTORE_PARQUET_PAGE_ROWS: "300" };
for (const [store, name, duck] of cases) {
  const sdir = join(dir, store);
  const run = (...args) => execFileSync(cli, ["--dir", sdir, "--compression", store, ...args], { encoding: "utf8", env });
  run("put", "--csv", "--schema", "day:date", "--key", "t", csv);
  const meta = JSON.parse(run("meta", "t"));
  check(meta.compression === name, `${store} store: meta compression ${meta.compression} (want ${name})`);
  const file = findFile(join(sdir, "blobs"), meta.blob);
  check(file !== null, `${store} store: the blob file ${meta.blob} exists`);
  if (!file) continue;
  const codecs = (await conn.runAndReadAll(
    `SELECT DISTINCT compression FROM parquet_metadata('${file}')`)).getRows().map((r) => String(r[0]));
  check(codecs.length === 1 && codecs[0] === duck, `${store} store: DuckDB sees ${codecs} (want ${duck})`);
  const groups = (await conn.runAndReadAll(
    `SELECT count(DISTINCT row_group_id) FROM parquet_metadata('${file}')`)).getRows()[0][0];
  check(Number(groups) === 6, `${store} store: ${groups} row groups (want 6)`);
  const src = `SELECT * FROM read_csv('${csv}', header = true, columns = ${columns}, quote = '"', escape = '"')`;
  const dst = `SELECT id, x, country, maybe, ok, day FROM read_parquet('${file}')`;
  for (const [a, b, what] of [[src, dst, "CSV rows missing from the file"], [dst, src, "file rows not in the CSV"]]) {
    const n = (await conn.runAndReadAll(`SELECT count(*) FROM (${a} EXCEPT ALL ${b})`)).getRows()[0][0];
    check(Number(n) === 0, `${store} store: ${n} ${what}`);
  }
  const counts = (await conn.runAndReadAll(`SELECT (SELECT count(*) FROM (${src})), (SELECT count(*) FROM (${dst}))`)).getRows()[0];
  check(Number(counts[0]) === 5003 && Number(counts[1]) === 5003, `${store} store: row counts ${counts}`);
  // The types DuckDB sees are the ones the CSV was read with.
  const types = (await conn.runAndReadAll(`DESCRIBE ${dst}`)).getRows().map((r) => `${r[0]}:${r[1]}`).join(",");
  check(types === "id:BIGINT,x:DOUBLE,country:VARCHAR,maybe:BIGINT,ok:BOOLEAN,day:DATE", `${store} store: types ${types}`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
