// interop.mjs - our Parquet files read by DuckDB, and files DuckDB writes read
// by us, value for value. Usage: node interop.mjs PQ_TOOL WORKDIR
// Prints "N passed, N failed" and exits non-zero on any failure.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { DuckDBInstance } from "@duckdb/node-api";
import { tableFromIPC } from "apache-arrow";
import { parquetReadObjects } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import * as parquetWasm from "parquet-wasm";

const [tool, dir] = process.argv.slice(2);
let passed = 0, failed = 0;
function check(ok, what) {
  if (ok) passed++;
  else { failed++; console.error("FAIL: " + what); }
}

function dump(file) {
  const out = execFileSync(tool, ["dump", file], { encoding: "utf8", maxBuffer: 1 << 28 });
  return out.trim().split("\n").map((l) => JSON.parse(l));
}

function sqlFor(col) {
  const c = `"${col.name}"`;
  switch (col.type) {
    case "bool": return `CAST(${c} AS VARCHAR)`;
    case "float32": case "float64": return `CAST(${c} AS DOUBLE)`;
    case "string": return c;
    case "binary": return `lower(hex(${c}))`;
    case "timestamp[ms]": return `CAST(epoch_ms(${c}) AS VARCHAR)`;
    case "timestamp[us]": return `CAST(epoch_us(${c}) AS VARCHAR)`;
    case "timestamp[ns]": return `CAST(epoch_ns(${c}) AS VARCHAR)`;
    case "date": return `CAST(datediff('day', DATE '1970-01-01', ${c}) AS VARCHAR)`;
    default: return `CAST(${c} AS VARCHAR)`;
  }
}

function same(a, b, type) {
  if (a === null || b === null) return a === b;
  if (type === "bool") return String(a) === String(b);
  if (type === "float32") return Math.fround(Number(a)) === Math.fround(Number(b));
  if (type === "float64") return Number(a) === Number(b);
  return String(a) === String(b);
}

// A value from a JavaScript reader in our canonical form (see pq_tool dump).
const perMs = { "timestamp[ms]": 1n, "timestamp[us]": 1000n, "timestamp[ns]": 1000000n };
function hex(u8) { return Array.from(u8, (b) => b.toString(16).padStart(2, "0")).join(""); }
function norm(v, type) {
  if (v === null || v === undefined) return null;
  if (perMs[type]) {
    const ms = v instanceof Date ? BigInt(v.getTime()) : BigInt(Math.round(Number(v)));
    return String(ms * perMs[type]);
  }
  if (type === "date") {
    const ms = v instanceof Date ? v.getTime() : Number(v);
    return String(Math.round(ms / 86400000));
  }
  if (type === "binary") return v instanceof Uint8Array ? hex(v) : hex(Uint8Array.from(String(v), (ch) => ch.charCodeAt(0)));
  if (type === "float32" || type === "float64") return Number(v);
  if (type === "bool" || type === "string") return v;
  return String(v);
}
// Timestamps below the millisecond are compared at the readers' millisecond precision.
function sameAtMs(got, want, type) {
  if (perMs[type] && want !== null && got !== null) return BigInt(got) === (BigInt(want) / perMs[type]) * perMs[type];
  return same(got, want, type);
}

async function readHyparquet(file) {
  const b = readFileSync(file);
  const ab = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  return parquetReadObjects({ file: ab, compressors, utf8: false });
}
function readArrow(file) {
  return tableFromIPC(parquetWasm.readParquet(new Uint8Array(readFileSync(file))).intoIPCStream());
}

const instance = await DuckDBInstance.create(":memory:");
const conn = await instance.connect();
const codecs = ["snappy", "zstd", "gzip", "lz4_raw", "none"];
const duckCodec = { snappy: "SNAPPY", zstd: "ZSTD", gzip: "GZIP", lz4_raw: "LZ4_RAW", none: "UNCOMPRESSED",
                    brotli: "BROTLI" };
const duckType = {
  bool: "BOOLEAN", int8: "TINYINT", int16: "SMALLINT", int32: "INTEGER", int64: "BIGINT",
  uint8: "UTINYINT", uint16: "USMALLINT", uint32: "UINTEGER", uint64: "UBIGINT",
  float32: "FLOAT", float64: "DOUBLE", string: "VARCHAR", binary: "BLOB",
  "timestamp[ms]": "TIMESTAMP", /* DuckDB keeps milliseconds in its microsecond TIMESTAMP */ "timestamp[us]": "TIMESTAMP WITH TIME ZONE",
  "timestamp[ns]": "TIMESTAMP_NS", date: "DATE",
};

for (const codec of codecs) {
  const file = `${dir}/ours_${codec}.parquet`;
  const expect = dump(file);
  // DuckDB reads every column of our file to the values we wrote.
  for (const col of expect) {
    const r = await conn.runAndReadAll(`SELECT ${sqlFor(col)} AS v FROM read_parquet('${file}')`);
    const got = r.getRows().map((row) => row[0]);
    const ok = got.length === col.values.length && got.every((v, i) => same(v, col.values[i], col.type));
    check(ok, `DuckDB reads ${col.name} (${codec})`);
  }
  // hyparquet and parquet-wasm (Rust, through Arrow) read the same values.
  const rows = await readHyparquet(file);
  const arrow = readArrow(file);
  for (const col of expect) {
    const h = rows.map((r) => norm(r[col.name], col.type));
    check(h.length === col.values.length && h.every((v, i) => sameAtMs(v, col.values[i], col.type)),
      `hyparquet reads ${col.name} (${codec})`);
    const child = arrow.getChild(col.name);
    const a = child ? Array.from({ length: child.length }, (_, i) => norm(child.get(i), col.type)) : [];
    check(a.length === col.values.length && a.every((v, i) => sameAtMs(v, col.values[i], col.type)),
      `parquet-wasm reads ${col.name} (${codec})`);
  }
  // Its schema view agrees on the types, the metadata on the codec and the pandas key.
  const schema = await conn.runAndReadAll(
    `SELECT name, type, logical_type, converted_type FROM parquet_schema('${file}')`);
  const types = Object.fromEntries(schema.getRows().map((r) => [r[0], r]));
  const described = await conn.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${file}')`);
  const dtypes = Object.fromEntries(described.getRows().map((r) => [r[0], r[1]]));
  for (const col of expect) {
    check(types[col.name] !== undefined, `parquet_schema lists ${col.name}`);
    check(dtypes[col.name] === duckType[col.type],
      `DuckDB type of ${col.name}: ${dtypes[col.name]} (want ${duckType[col.type]})`);
  }
  const meta = await conn.runAndReadAll(`SELECT DISTINCT compression FROM parquet_metadata('${file}')`);
  const comps = meta.getRows().map((r) => String(r[0]));
  check(comps.length === 1 && comps[0] === duckCodec[codec], `codec ${comps} (want ${duckCodec[codec]})`);
  const kv = await conn.runAndReadAll(`SELECT decode(key), decode(value) FROM parquet_kv_metadata('${file}')`);
  const keys = kv.getRows().map((r) => r[0]);
  check(keys.includes("pandas"), `pandas key-value metadata (${codec})`);
  const stats = await conn.runAndReadAll(
    `SELECT stats_min_value, stats_max_value, stats_null_count FROM parquet_metadata('${file}')
     WHERE path_in_schema = 'c_int32_null' AND row_group_id = 0`);
  const s = stats.getRows()[0];
  const first = expect.find((c) => c.name === "c_int32_null").values.slice(0, 40); /* row group 0 */
  const i32 = first.filter((v) => v !== null).map(Number);
  check(s && Number(s[0]) === Math.min(...i32) && Number(s[1]) === Math.max(...i32) &&
        Number(s[2]) === first.filter((v) => v === null).length,
        `statistics min/max/null count (${codec}): ${s}`);
}

// Files DuckDB writes (format v1, and v2 with its DELTA and BYTE_STREAM_SPLIT
// encodings) read by us to the same values.
const src = `${dir}/ours_snappy.parquet`;
const expect = dump(src);
for (const codec of [...codecs, "brotli"]) { /* (we do not write BROTLI; we read it) */
  for (const version of ["V1", "V2"]) {
    const out = `${dir}/duckdb_${version}_${codec}.parquet`;
    await conn.run(`COPY (SELECT * FROM read_parquet('${src}')) TO '${out}'
                    (FORMAT PARQUET, COMPRESSION ${duckCodec[codec]}, PARQUET_VERSION ${version},
                     ROW_GROUP_SIZE 30)`);
    let got;
    try { got = dump(out); } catch (e) { check(false, `our reader on DuckDB ${version} ${codec}: ${e.message}`); continue; }
    for (const col of expect) {
      const g = got.find((c) => c.name === col.name);
      const unit = { "timestamp[ms]": 1000000n, "timestamp[us]": 1000n, "timestamp[ns]": 1n };
      const scale = (v, t) => (v === null || !unit[t] ? v : String(BigInt(v) * unit[t]));
      const ok = g && g.values.length === col.values.length &&
        g.values.every((v, i) => unit[col.type]
          ? scale(v, g.type) === scale(col.values[i], col.type) /* the same instant */
          : same(v, col.values[i], col.type));
      check(ok, `we read DuckDB's ${version} ${codec} ${col.name}`);
    }
  }
}

// parquet-wasm (the Rust implementation) rewrites our file from Arrow; we read it back.
import { tableToIPC } from "apache-arrow";
import { parquetWriteBuffer } from "hyparquet-writer";
import { writeFileSync } from "node:fs";
{
  const arrow = readArrow(src);
  const wasmTable = parquetWasm.Table.fromIPCStream(tableToIPC(arrow, "stream"));
  const out = `${dir}/parquet_wasm.parquet`;
  writeFileSync(out, parquetWasm.writeParquet(wasmTable));
  let got = null;
  try { got = dump(out); } catch (e) { check(false, `our reader on parquet-wasm's file: ${e.message}`); }
  for (const col of got ? expect : []) {
    const g = got.find((c) => c.name === col.name);
    const unit = { "timestamp[ms]": 1000000n, "timestamp[us]": 1000n, "timestamp[ns]": 1n };
    const scale = (v, t) => (v === null || !unit[t] ? v : String(BigInt(v) * unit[t]));
    const ok = g && g.values.length === col.values.length &&
      g.values.every((v, i) => unit[col.type] ? scale(v, g.type) === scale(col.values[i], col.type)
                                              : same(v, col.values[i], col.type));
    check(ok, `we read parquet-wasm's ${col.name}`);
  }
}
// parquet-wasm's codecs we do not write: LZ4 (Hadoop's framing, codec 5) and
// BROTLI; and GZIP. Its metadata names the codec (DuckDB reads it).
for (const [name, codec] of [["LZ4", parquetWasm.Compression.LZ4], ["BROTLI", parquetWasm.Compression.BROTLI],
                             ["GZIP", parquetWasm.Compression.GZIP]]) {
  const arrow = readArrow(src);
  const props = new parquetWasm.WriterPropertiesBuilder().setCompression(codec).build();
  const out = `${dir}/parquet_wasm_${name}.parquet`;
  writeFileSync(out, parquetWasm.writeParquet(parquetWasm.Table.fromIPCStream(tableToIPC(arrow, "stream")), props));
  const meta = await conn.runAndReadAll(`SELECT DISTINCT compression FROM parquet_metadata('${out}')`);
  check(String(meta.getRows().map((r) => r[0])) === name, `parquet-wasm wrote ${name}: ${meta.getRows()}`);
  let got = null;
  try { got = dump(out); } catch (e) { check(false, `our reader on parquet-wasm's ${name} file: ${e.message}`); }
  for (const col of got ? expect : []) {
    const g = got.find((c) => c.name === col.name);
    const unit = { "timestamp[ms]": 1000000n, "timestamp[us]": 1000n, "timestamp[ns]": 1n };
    const scale = (v, t) => (v === null || !unit[t] ? v : String(BigInt(v) * unit[t]));
    const ok = g && g.values.length === col.values.length &&
      g.values.every((v, i) => unit[col.type] ? scale(v, g.type) === scale(col.values[i], col.type)
                                              : same(v, col.values[i], col.type));
    check(ok, `we read parquet-wasm's ${name} ${col.name}`);
  }
}
// parquet-wasm with DELTA_BYTE_ARRAY strings and no dictionary.
{
  const arrow = readArrow(src);
  const props = new parquetWasm.WriterPropertiesBuilder()
    .setDictionaryEnabled(false)
    .setColumnEncoding("c_string", parquetWasm.Encoding.DELTA_BYTE_ARRAY)
    .setColumnEncoding("c_string_null", parquetWasm.Encoding.DELTA_BYTE_ARRAY)
    .setColumnEncoding("c_int64", parquetWasm.Encoding.DELTA_BINARY_PACKED)
    .build();
  const out = `${dir}/parquet_wasm_delta.parquet`;
  writeFileSync(out, parquetWasm.writeParquet(parquetWasm.Table.fromIPCStream(tableToIPC(arrow, "stream")), props));
  const meta = await conn.runAndReadAll(
    `SELECT DISTINCT encodings FROM parquet_metadata('${out}') WHERE path_in_schema = 'c_string'`);
  check(String(meta.getRows()[0][0]).includes("DELTA_BYTE_ARRAY"), "parquet-wasm wrote DELTA_BYTE_ARRAY");
  let got = null;
  try { got = dump(out); } catch (e) { check(false, `our reader on DELTA_BYTE_ARRAY: ${e.message}`); }
  for (const name of got ? ["c_string", "c_string_null", "c_int64"] : []) {
    const g = got.find((c) => c.name === name), col = expect.find((c) => c.name === name);
    check(g && g.values.every((v, i) => same(v, col.values[i], col.type)), `we read parquet-wasm's delta ${name}`);
  }
}
// hyparquet-writer writes the basic types; we read them back.
{
  const n = 50;
  const data = {
    i32: Array.from({ length: n }, (_, i) => (i % 5 === 3 ? null : i * 7 - 100)),
    i64: Array.from({ length: n }, (_, i) => BigInt(i) * 1000000007n - 3n),
    f64: Array.from({ length: n }, (_, i) => (i % 4 === 0 ? null : i / 8)),
    s: Array.from({ length: n }, (_, i) => (i % 6 === 1 ? null : `row ${i % 9} ü`)),
    b: Array.from({ length: n }, (_, i) => i % 3 === 0),
  };
  const buf = parquetWriteBuffer({ columnData: [
    { name: "i32", data: data.i32, type: "INT32" },
    { name: "i64", data: data.i64, type: "INT64" },
    { name: "f64", data: data.f64, type: "DOUBLE" },
    { name: "s", data: data.s, type: "STRING" },
    { name: "b", data: data.b, type: "BOOLEAN" },
  ] });
  const out = `${dir}/hyparquet_writer.parquet`;
  writeFileSync(out, new Uint8Array(buf));
  let got = null;
  try { got = dump(out); } catch (e) { check(false, `our reader on hyparquet-writer's file: ${e.message}`); }
  const types = { i32: "int32", i64: "int64", f64: "float64", s: "string", b: "bool" };
  for (const [name, vals] of got ? Object.entries(data) : []) {
    const g = got.find((c) => c.name === name);
    const ok = g && g.values.length === n &&
      g.values.every((v, i) => same(v, vals[i] === null ? null : (typeof vals[i] === "bigint" ? String(vals[i]) : vals[i]), types[name]));
    check(ok, `we read hyparquet-writer's ${name}`);
  }
}

// Seeded random columns (NaN, signed zeros, infinities, nulls, strings that
// are prefixes of one another) in row groups and pages of random sizes:
// DuckDB reads the values generated, and each row group's statistics are
// the least and greatest of its values (nulls and NaNs left out).
for (let round = 0; round < 4; round++) {
  const seed = process.env.SEED ? BigInt(process.env.SEED) + BigInt(round)
    : BigInt(Date.now()) * 16n + BigInt(round);
  console.log(execFileSync(tool, ["write-random", dir, String(seed)], { encoding: "utf8" }).trim());
  const file = `${dir}/random.parquet`;
  const want = readFileSync(`${dir}/random.json`, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  const num = (t) => (t === null ? null : Number(String(t).replace(/^(-?)inf(inity)?$/i, "$1Infinity")));
  const isFloat = (t) => t === "float32" || t === "float64";
  const sameNum = (a, b, t) => (Number.isNaN(a) && Number.isNaN(b)) ||
    (t === "float32" ? Object.is(Math.fround(a), Math.fround(b)) : Object.is(a, b));
  const meta = await conn.runAndReadAll(
    `SELECT row_group_id, path_in_schema, stats_min_value, stats_max_value, stats_null_count
     FROM parquet_metadata('${file}')`);
  const stats = {};
  for (const r of meta.getRows()) stats[`${r[1]}/${r[0]}`] = r;
  for (const col of want) {
    const r = await conn.runAndReadAll(`SELECT ${sqlFor(col)} AS v FROM read_parquet('${file}')`);
    const got = r.getRows().map((row) => row[0]);
    const ok = got.length === col.values.length && got.every((v, i) => {
      const w = col.values[i];
      if (v === null || w === null) return v === w;
      return isFloat(col.type) ? sameNum(Number(v), num(w), col.type) : String(v) === String(w);
    });
    check(ok, `DuckDB reads random ${col.name} (seed ${seed})`);
    if (!["int32", "int64", "float32", "float64", "string"].includes(col.type)) continue;
    for (let g = 0; g * col.group_rows < col.values.length; g++) {
      const part = col.values.slice(g * col.group_rows, (g + 1) * col.group_rows);
      const vals = part.filter((v) => v !== null && !(isFloat(col.type) && Number.isNaN(num(v))));
      let lo = null, hi = null;
      const key = col.type === "string" ? (v) => v : isFloat(col.type) ? num : BigInt;
      for (const v of vals) {
        if (lo === null || key(v) < key(lo)) lo = v;
        if (hi === null || key(hi) < key(v)) hi = v;
      }
      const st = stats[`${col.name}/${g}`];
      // (DuckDB shows no statistic that is infinite)
      const eq = (a, b) => isFloat(col.type) && b !== null && !Number.isFinite(num(b)) ? a === null
        : a === null || b === null ? a === b
        : col.type === "string" ? String(a) === b
        : isFloat(col.type) ? num(a) === num(b) || (col.type === "float32" && Math.fround(num(a)) === Math.fround(num(b)))
        : BigInt(a) === BigInt(b);
      const nulls = part.filter((v) => v === null).length;
      check(st && eq(st[2], lo) && eq(st[3], hi) && Number(st[4]) === nulls,
        `statistics of random ${col.name} row group ${g} (seed ${seed}): ${st && st.slice(2)} want ${lo} ${hi} ${nulls}`);
    }
  }
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
