// differential.mjs - the oracles of tests/parquet/differential.py: DuckDB
// reads every output (the .parquet and .csv of each table) and must see
// exactly the rows of truth.csv (row counts, EXCEPT ALL both ways, each row
// with its position); parquet-wasm and hyparquet read every .parquet output
// value by value. Values are compared in the canonical text of
// differential.py (floats: the exact double, NaN equal to NaN, -0.0 not 0.0).
// Usage: node differential.mjs MANIFEST.json. Exits non-zero on any failure.
import { readFileSync } from "node:fs";
import { DuckDBInstance } from "@duckdb/node-api";
import { tableFromIPC } from "apache-arrow";
import { parquetReadObjects } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import * as parquetWasm from "parquet-wasm";

const manifest = JSON.parse(readFileSync(process.argv[2], "utf8"));
let passed = 0, failed = 0;
function check(ok, entry, what) {
  if (ok) passed++;
  else { failed++; console.error(`FAIL seed=${entry.seed} case=${entry.id}: ${what}`); }
}

const duckType = {
  bool: "BOOLEAN", int8: "TINYINT", int16: "SMALLINT", int32: "INTEGER", int64: "BIGINT",
  uint8: "UTINYINT", uint16: "USMALLINT", uint32: "UINTEGER", uint64: "UBIGINT",
  float32: "FLOAT", float64: "DOUBLE", string: "VARCHAR", binary: "BLOB",
  "timestamp[ms]": "TIMESTAMP", "timestamp[us]": "TIMESTAMP", "timestamp[ns]": "TIMESTAMP_NS",
  "timestamp[ns,utc]": "TIMESTAMP_NS", date: "DATE",
};
const q = (name) => `"${name.replaceAll('"', '""')}"`;
const lit = (s) => `'${s.replaceAll("'", "''")}'`;

// The canonical text of a typed DuckDB value x of a column type.
function canon(type, x) {
  switch (type) {
    case "float64": return `CAST(CAST(${x} AS DOUBLE) AS VARCHAR)`;
    case "float32": return `CAST(CAST(CAST(${x} AS FLOAT) AS DOUBLE) AS VARCHAR)`;
    case "string": case "binary": return `('x' || hex(${x}))`;
    case "timestamp[ms]": return `CAST(epoch_ms(${x}) AS VARCHAR)`;
    case "timestamp[us]": return `CAST(epoch_us(${x}) AS VARCHAR)`;
    case "timestamp[ns]": return `CAST(epoch_ns(${x}) AS VARCHAR)`;
    // DuckDB reads a UTC nanosecond timestamp as its microsecond TIMESTAMPTZ
    // (truncating): compared to the microsecond here, to the nanosecond in pandas.
    case "timestamp[ns,utc]": return `CAST(epoch_us(${x}) AS VARCHAR)`;
    case "date": return `CAST(datediff('day', DATE '1970-01-01', ${x}) AS VARCHAR)`;
    default: return `CAST(${x} AS VARCHAR)`;
  }
}
// The truth's text made typed the DuckDB way and back (floats parsed exactly).
function truthExpr(type, x) {
  if (type === "timestamp[ns,utc]") return `CAST(epoch_us(make_timestamp_ns(CAST(${x} AS BIGINT))) AS VARCHAR)`;
  if (type === "float64") return canon(type, `CAST(${x} AS DOUBLE)`);
  if (type === "float32") return canon(type, `CAST(CAST(${x} AS DOUBLE) AS FLOAT)`);
  return x;
}
// A CSV cell (VARCHAR) of our CSV output, parsed as the column's type.
function csvExpr(type, x) {
  if (type === "string" || type === "binary") return canon(type, x); // hex of the cell's bytes
  if (type.startsWith("timestamp")) return canon(type, `CAST(replace(${x}, 'Z', '') AS ${duckType[type]})`);
  return canon(type, `CAST(${x} AS ${duckType[type]})`);
}

const instance = await DuckDBInstance.create(":memory:");
const conn = await instance.connect();
await conn.run("SET threads = 1"); // scans in file order (row positions)

async function scalar(sql) {
  const r = await conn.runAndReadAll(sql);
  return r.getRows()[0][0];
}

async function compareDuckDB(entry, out, truthSql) {
  // An output of some columns (get --columns) holds those, in that order.
  const cols = out.columns ? out.columns.map((n) => entry.columns.find((c) => c.name === n)) : entry.columns;
  const want = `(SELECT __row, ${cols.map((c) => q(c.name)).join(", ")} FROM truth)`;
  let outSql;
  if (out.kind === "parquet") {
    outSql = `SELECT file_row_number AS __row, ${cols.map((c) => `${canon(c.type, q(c.name))} AS ${q(c.name)}`).join(", ")}
              FROM read_parquet(${lit(out.path)}, file_row_number = true)`;
  } else {
    const spec = cols.map((c) => `${lit(c.name)}: 'VARCHAR'`).join(", ");
    outSql = `SELECT row_number() OVER () - 1 AS __row, ${cols.map((c) => `${csvExpr(c.type, q(c.name))} AS ${q(c.name)}`).join(", ")}
              FROM read_csv(${lit(out.path)}, columns = {${spec}}, header = true, delim = ',', quote = '"',
                            escape = '"', allow_quoted_nulls = false, auto_detect = false)`;
  }
  const what = `DuckDB ${out.kind} ${out.path.split("/").pop()}${out.columns ? ` (--columns ${out.columns})` : ""}`;
  try {
    await conn.run(`CREATE OR REPLACE TEMP TABLE got AS ${outSql}`);
  } catch (e) {
    check(false, entry, `${what}: ${e.message}`);
    return;
  }
  const n = Number(await scalar("SELECT count(*) FROM got"));
  check(n === entry.nrows, entry, `${what}: ${n} rows, want ${entry.nrows}`);
  const missing = await conn.runAndReadAll(`SELECT * FROM (SELECT * FROM ${want} EXCEPT ALL SELECT * FROM got) ORDER BY __row LIMIT 3`);
  const extra = await conn.runAndReadAll(`SELECT * FROM (SELECT * FROM got EXCEPT ALL SELECT * FROM ${want}) ORDER BY __row LIMIT 3`);
  const fmt = (rows) => JSON.stringify(rows, (k, v) => (typeof v === "bigint" ? String(v) : v)).slice(0, 600);
  check(missing.getRows().length === 0, entry, `${what}: rows not read back: ${fmt(missing.getRows())}`);
  if (missing.getRows().length) // name the columns that differ
    for (const c of cols) {
      const d = await conn.runAndReadAll(`SELECT t.__row, t.${q(c.name)}, g.${q(c.name)} FROM truth t JOIN got g USING (__row)
        WHERE t.${q(c.name)} IS DISTINCT FROM g.${q(c.name)} ORDER BY t.__row LIMIT 2`);
      if (d.getRows().length) console.error(`  ${c.name} (${c.type}) [row, want, got]: ${fmt(d.getRows())}`);
    }
  check(extra.getRows().length === 0, entry, `${what}: rows not written: ${fmt(extra.getRows())}`);
  if (out.kind === "parquet" && entry.nrows > 0) {
    const groups = Number(await scalar(`SELECT count(DISTINCT row_group_id) FROM parquet_metadata(${lit(out.path)})`));
    const want = Math.ceil(entry.nrows / entry.row_group_rows);
    if (/-csv-/.test(entry.id)) { // CSV is put a piece of about 2 MiB at a time, each its own row group
      const most = Number(await scalar(`SELECT max(row_group_num_rows) FROM parquet_metadata(${lit(out.path)})`));
      check(groups >= want && most <= entry.row_group_rows, entry,
        `${what}: ${groups} row groups of at most ${most} rows, want at least ${want} of at most ${entry.row_group_rows}`);
    } else {
      check(groups === want, entry, `${what}: ${groups} row groups, want ${want}`);
    }
  }
}

// ---- the JavaScript readers, value by value ----
const hexOf = (u8) => "x" + Array.from(u8, (b) => b.toString(16).padStart(2, "0")).join("").toUpperCase();
const enc = new TextEncoder();
const perMs = { "timestamp[ms]": 1, "timestamp[us]": 1000, "timestamp[ns]": 1000000, "timestamp[ns,utc]": 1000000 };
function parseFloatText(s) {
  return s === "nan" ? NaN : s === "inf" ? Infinity : s === "-inf" ? -Infinity : Number(s);
}
// Does a JS reader's value v equal the canonical text want (null: NULL)?
function same(type, v, want) {
  if (v === null || v === undefined || want === null) return (v === null || v === undefined) && want === null;
  if (type === "float32" || type === "float64") return Object.is(Number(v), parseFloatText(want));
  if (type === "string" || type === "binary") {
    const bytes = typeof v === "string" ? enc.encode(v) : v;
    return hexOf(bytes) === want;
  }
  if (perMs[type]) { // the JS readers hold milliseconds: within one
    const ms = v instanceof Date ? v.getTime() : Number(v);
    const w = BigInt(want), per = BigInt(perMs[type]);
    const got = BigInt(Math.round(ms)) * per;
    const d = got > w ? got - w : w - got;
    return d < per;
  }
  if (type === "date") {
    const ms = v instanceof Date ? v.getTime() : Number(v);
    return String(Math.round(ms / 86400000)) === want;
  }
  if (type === "bool") return String(v) === want;
  return String(v) === want;
}

async function compareJs(entry, out, truthCols) {
  const buf = readFileSync(out.path);
  let readers = [];
  try {
    const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
    const rows = await parquetReadObjects({ file: ab, compressors, utf8: false });
    readers.push(["hyparquet", (name) => rows.map((r) => r[name]), rows.length]);
  } catch (e) {
    check(false, entry, `hyparquet: ${e.message}`);
  }
  try {
    const t = tableFromIPC(parquetWasm.readParquet(new Uint8Array(buf)).intoIPCStream());
    readers.push(["parquet-wasm", (name) => {
      const c = t.getChild(name);
      return c ? Array.from({ length: c.length }, (_, i) => c.get(i)) : null;
    }, t.numRows]);
  } catch (e) {
    check(false, entry, `parquet-wasm: ${e.message}`);
  }
  for (const [reader, column, nrows] of readers) {
    check(nrows === entry.nrows, entry, `${reader}: ${nrows} rows, want ${entry.nrows}`);
    for (const c of out.columns ? entry.columns.filter((c) => out.columns.includes(c.name)) : entry.columns) {
      const got = column(c.name), want = truthCols[c.name];
      if (!got) { check(false, entry, `${reader}: no column ${c.name}`); continue; }
      let bad = -1, nbad = 0;
      for (let i = 0; i < want.length; i++)
        if (!same(c.type, got[i], want[i])) { nbad++; if (bad < 0) bad = i; }
      check(bad < 0 && got.length === want.length, entry,
        `${reader} ${c.name} (${c.type}): ${nbad} values differ, first at row ${bad}: got ${String(got[bad])}, want ${want[bad]}`);
    }
  }
}

for (const entry of manifest) {
  const t0 = Date.now();
  const cols = entry.columns;
  const spec = cols.map((c) => `${lit(c.name)}: 'VARCHAR'`).join(", ");
  await conn.run(`CREATE OR REPLACE TEMP TABLE truth AS
    SELECT row_number() OVER () - 1 AS __row, ${cols.map((c) => `${truthExpr(c.type, q(c.name))} AS ${q(c.name)}`).join(", ")}
    FROM read_csv(${lit(entry.truth)}, columns = {${spec}}, header = true, delim = ',', quote = '"',
                  escape = '"', allow_quoted_nulls = false, auto_detect = false)`);
  const n = Number(await scalar("SELECT count(*) FROM truth"));
  check(n === entry.nrows, entry, `truth.csv read as ${n} rows, want ${entry.nrows}`);
  for (const out of entry.outputs)
    if (out.kind === "parquet" || out.duckdb) await compareDuckDB(entry, out, null);
  if (!entry.js_readers) continue;
  // The truth as canonical texts per column, for the JS readers.
  const r = await conn.runAndReadAll(`SELECT row_number() OVER () - 1 AS __row, *
    FROM read_csv(${lit(entry.truth)}, columns = {${spec}}, header = true, allow_quoted_nulls = false, auto_detect = false)`);
  const rows = r.getRows();
  const truthCols = {};
  cols.forEach((c, k) => { truthCols[c.name] = rows.map((row) => (row[k + 1] === null ? null : String(row[k + 1]))); });
  for (const out of entry.outputs) if (out.kind === "parquet" && entry.js_readers) await compareJs(entry, out, truthCols);
  if (process.env.BLOBSTORE_TABLE_DIFF_VERBOSE) console.log(`  ${entry.id}: ${(Date.now() - t0) / 1000} s`);
}
console.log(`differential oracles: ${manifest.length} tables, ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
