// nested_writers.mjs - nested Parquet columns (issue 15) from writers other
// than DuckDB: parquet-wasm (Rust's parquet crate, from Arrow tables built
// with apache-arrow: List, Struct, Map, nulls at every level) under several
// codecs, both writer versions and small pages / row groups, and
// hyparquet-writer (its Dremel encoder, from an explicit schema: v2 pages,
// snappy / gzip / brotli / none). The same seeded rows go to both. DuckDB
// reads each file: blobstore's CSV of it, and projections (a nested column
// by name, struct fields by dotted path), must equal DuckDB's CSV export
// line by line, and WORKDIR/manifest_writers.json lets nested_check.py
// compare every pandas cell with DuckDB's value.
// Usage: node nested_writers.mjs BLOBSTORE_CLI WORKDIR [SEED]
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import zlib from "node:zlib";
import { DuckDBInstance } from "@duckdb/node-api";
import {
  Bool, Field, Float64, Int16, Int32, Int64, List, Map_, Struct, Table, Utf8, tableToIPC, vectorFromArray,
} from "apache-arrow";
import * as parquetWasm from "parquet-wasm";
import { ByteWriter, parquetWrite } from "hyparquet-writer";
import { compareCsvLines, mulberry32 } from "./common.mjs";

const [cli, dir, seedArg] = process.argv.slice(2);
const seed = seedArg ? Number(seedArg) : Math.floor(Math.random() * 1e6);
console.log(`nested_writers: seed ${seed} (rerun: node nested_writers.mjs CLI DIR ${seed})`);
let passed = 0, failed = 0, lines = 0;
function check(ok, what) {
  if (ok) passed++;
  else { failed++; console.error(`FAIL seed=${seed}: ${what}`); }
}

const rand = mulberry32(seed);
const int = (n) => Math.floor(rand() * n);
const maybe = (p, f) => (rand() < p ? null : f());
const list = (max, f) => Array.from({ length: int(max + 1) }, f);
const words = ["a", "b c", "", "null", "NULL", "x,y", "it's", "{q}", " lead", "trail ", "é", "a\\b",
               'q"x', "k=v", "[1]", "x:y", "(p)", "line\nbreak"];

// One row: every level of every column may be null (a required id aside).
function row(i) {
  return {
    id: i,
    l: maybe(0.1, () => list(5, () => maybe(0.15, () => int(2000) - 1000))),
    ls: maybe(0.1, () => list(3, () => maybe(0.1, () => words[int(words.length)]))),
    s: maybe(0.1, () => ({
      a: maybe(0.2, () => int(100)),
      b: maybe(0.2, () => `v${int(50)}`),
      c: maybe(0.2, () => [0.1, -0, 1e20, 2.5e-8, 3][int(5)] * (1 + int(3))),
      d: maybe(0.2, () => ({ e: maybe(0.3, () => list(3, () => maybe(0.2, () => BigInt(int(1e9)) * 1000n - 7n))) })),
    })),
    m: maybe(0.1, () => Array.from({ length: int(4) }, (_, k) => ({ key: `k${k}`, value: maybe(0.2, () => int(10)) }))),
    ll: maybe(0.1, () => list(2, () => maybe(0.2, () => list(2, () => BigInt(int(9)))))),
    lst: maybe(0.1, () => list(2, () => maybe(0.1, () => ({
      x: maybe(0.2, () => int(600) - 300), y: maybe(0.2, () => list(2, () => maybe(0.3, () => rand() < 0.5))),
    })))),
    mi: maybe(0.2, () => Array.from({ length: int(3) }, (_, k) => ({ key: k, value: maybe(0.3, () => list(2, () => `w${k}`)) }))),
    f: maybe(0.1, () => [0.5, -0, 1e20, 0.1, 3][int(5)] * (1 + int(3))),
  };
}

// Arrow types (parquet-wasm): LIST / STRUCT / MAP with nullable children.
const f = (name, type, nullable = true) => new Field(name, type, nullable);
const listOf = (type) => new List(f("item", type));
const mapOf = (k, v) => new Map_(f("entries", new Struct([f("key", k, false), f("value", v)]), false));
const arrowTypes = {
  id: new Int32(),
  l: listOf(new Int32()),
  ls: listOf(new Utf8()),
  s: new Struct([f("a", new Int32()), f("b", new Utf8()), f("c", new Float64()), f("d", new Struct([f("e", listOf(new Int64()))]))]),
  m: mapOf(new Utf8(), new Int32()),
  ll: listOf(listOf(new Int64())),
  lst: listOf(new Struct([f("x", new Int16()), f("y", listOf(new Bool()))])),
  mi: mapOf(new Int32(), listOf(new Utf8())),
  f: new Float64(),
};
function wasmFile(rows, props) {
  const cols = {};
  for (const [name, type] of Object.entries(arrowTypes)) {
    const vals = rows.map((r) => {
      const v = r[name];
      // A map as Arrow JS builds it: a JS Map.
      return v && (name === "m" || name === "mi") ? new Map(v.map((e) => [e.key, e.value])) : v;
    });
    cols[name] = vectorFromArray(vals, type);
  }
  const table = new Table(cols);
  return parquetWasm.writeParquet(parquetWasm.Table.fromIPCStream(tableToIPC(table, "stream")), props);
}

// hyparquet-writer: the same columns in an explicit Parquet schema.
const leaf = (name, type, extra = {}) => ({ name, type, repetition_type: "OPTIONAL", ...extra });
const listEls = (name, elementEls) => [
  { name, repetition_type: "OPTIONAL", num_children: 1, converted_type: "LIST" },
  { name: "list", repetition_type: "REPEATED", num_children: 1 },
  ...elementEls,
];
const str = { converted_type: "UTF8" };
const hySchema = [
  { name: "root", num_children: 9 },
  { name: "id", type: "INT32", repetition_type: "REQUIRED" },
  ...listEls("l", [leaf("element", "INT32")]),
  ...listEls("ls", [leaf("element", "BYTE_ARRAY", str)]),
  { name: "s", repetition_type: "OPTIONAL", num_children: 4 },
  leaf("a", "INT32"), leaf("b", "BYTE_ARRAY", str), leaf("c", "DOUBLE"),
  { name: "d", repetition_type: "OPTIONAL", num_children: 1 },
  ...listEls("e", [leaf("element", "INT64")]),
  { name: "m", repetition_type: "OPTIONAL", num_children: 1, converted_type: "MAP" },
  { name: "key_value", repetition_type: "REPEATED", num_children: 2 },
  { name: "key", type: "BYTE_ARRAY", repetition_type: "REQUIRED", converted_type: "UTF8" }, leaf("value", "INT32"),
  ...listEls("ll", [...listEls("element", [leaf("element", "INT64")])]),
  ...listEls("lst", [{ name: "element", repetition_type: "OPTIONAL", num_children: 2 },
    leaf("x", "INT32", { converted_type: "INT_16" }), ...listEls("y", [leaf("element", "BOOLEAN")])]),
  { name: "mi", repetition_type: "OPTIONAL", num_children: 1, converted_type: "MAP" },
  { name: "key_value", repetition_type: "REPEATED", num_children: 2 },
  { name: "key", type: "INT32", repetition_type: "REQUIRED" },
  ...listEls("value", [leaf("element", "BYTE_ARRAY", str)]),
  leaf("f", "DOUBLE"),
];
function hyFile(rows, codec, rowGroupSize, pageSize) {
  const writer = new ByteWriter();
  parquetWrite({
    writer,
    schema: hySchema,
    columnData: Object.keys(arrowTypes).map((name) => ({ name, data: rows.map((r) => r[name]) })),
    codec,
    compressors: { GZIP: (b) => new Uint8Array(zlib.gzipSync(b)), BROTLI: (b) => new Uint8Array(zlib.brotliCompressSync(b)) },
    rowGroupSize,
    pageSize,
  });
  return new Uint8Array(writer.getBuffer());
}

const conn = await (await DuckDBInstance.create(":memory:", { threads: "1" })).connect();
const { Compression, WriterVersion, WriterPropertiesBuilder } = parquetWasm;
const wasmProps = (codec, version, rg, page, dict) => new WriterPropertiesBuilder()
  .setCompression(Compression[codec]).setWriterVersion(WriterVersion[version])
  .setMaxRowGroupSize(rg).setDataPageSizeLimit(page).setDictionaryEnabled(dict).build();
// writer, codec, version, rows, row group rows, page bytes, dictionary
const files = [
  ["wasm", "SNAPPY", "V1", 3000, 1024, 1 << 20, true],
  ["wasm", "ZSTD", "V2", 3000, 1000, 4096, true],
  ["wasm", "GZIP", "V1", 2000, 700, 2048, false],
  ["wasm", "BROTLI", "V2", 1500, 1500, 1 << 20, false],
  ["wasm", "LZ4_RAW", "V1", 1000, 333, 1024, true],
  ["wasm", "UNCOMPRESSED", "V2", 1, 1024, 1 << 20, true],
  ["wasm", "SNAPPY", "V2", 0, 1024, 1 << 20, true],
  ["hyparquet", "SNAPPY", "V2", 3000, 1000, 1 << 20],
  ["hyparquet", "GZIP", "V2", 2000, 2000, 4096],
  ["hyparquet", "BROTLI", "V2", 1500, 600, 1 << 20],
  ["hyparquet", "UNCOMPRESSED", "V2", 1, 1000, 1 << 20],
];
const manifest = [];
let k = 0;
for (const [writer, codec, version, n, rg, page, dict] of files) {
  const name = `${writer}_${codec}_${version}_${n}`;
  const file = `${dir}/${name}.parquet`;
  const rows = Array.from({ length: n }, (_, i) => row(i));
  try {
    writeFileSync(file, writer === "wasm" ? wasmFile(rows, wasmProps(codec, version, rg, page, dict))
                                          : hyFile(rows, codec, rg, page));
  } catch (e) {
    check(false, `${name}: ${writer} does not write it: ${e.stack}`);
    continue;
  }
  // The file is what it says: the codec, and nested columns as leaves.
  const meta = await conn.runAndReadAll(`SELECT DISTINCT compression FROM parquet_metadata('${file}')`);
  const codecs = meta.getRows().map((r) => String(r[0]));
  check(n === 0 || (codecs.length === 1 && codecs[0] === codec), `${name}: DuckDB sees codecs ${codecs}`);
  try {
    await conn.run(`COPY (SELECT * FROM read_parquet('${file}')) TO '${dir}/${name}.duck.csv' (HEADER)`);
    await conn.run(`COPY (SELECT * FROM read_parquet('${file}')) TO '${dir}/${name}.duck.json' (FORMAT JSON)`);
  } catch (e) {
    check(false, `${name}: DuckDB does not read it: ${e.message}`);
    continue;
  }
  const store = `${dir}/wstore${k++}`;
  const put = spawnSync(cli, ["--dir", store, "put", "--key", name, file], { encoding: "utf8" });
  check(put.status === 0, `${name}: put exits ${put.status}: ${put.stderr.trim()}`);
  if (put.status !== 0) continue;
  manifest.push({ name, store, key: name, json: `${dir}/${name}.duck.json`, rows: n });
  const compare = async (cols, sql, tag) => {
    const ours = `${dir}/${name}.${tag}.csv`, theirs = `${dir}/${name}.${tag}.duck.csv`;
    const args = ["--dir", store, "get", name, "-o", ours];
    if (cols) args.push("--columns", cols);
    const g = spawnSync(cli, args, { encoding: "utf8" });
    check(g.status === 0, `${name} ${tag}: get exits ${g.status}: ${g.stderr.trim()}`);
    await conn.run(`COPY (${sql}) TO '${theirs}' (HEADER)`);
    const c = compareCsvLines(ours, theirs);
    check(c.lines[0] === c.lines[1], `${name} ${tag}: ${c.lines[0]} lines, DuckDB ${c.lines[1]}`);
    lines += c.equal;
    for (const x of c.diffs) check(false, `${name} ${tag} line ${x.line}:\n  ours:   ${x.ours}\n  DuckDB: ${x.theirs}`);
    if (!c.diffs.length) passed++;
  };
  // (The flat double f aside: blobstore's CSV writes a top-level double as
  // %.17g, DuckDB its shortest text; it is compared by value below.)
  const nestedCols = Object.keys(arrowTypes).filter((c) => c !== "f").join(",");
  await compare(nestedCols, `SELECT ${nestedCols} FROM read_parquet('${file}')`, "all");
  spawnSync(cli, ["--dir", store, "get", name, "--columns", "f", "-o", `${dir}/${name}.f.csv`]);
  const fs = readFileSync(`${dir}/${name}.f.csv`, "utf8").split("\n").slice(1, n + 1);
  const fd = (await conn.runAndReadAll(`SELECT f FROM read_parquet('${file}')`)).getRows().map((r) => r[0]);
  const fbad = fd.findIndex((v, i) => (v === null ? fs[i] !== "" : !Object.is(Number(fs[i]), v)));
  check(fs.length === n && fbad < 0, `${name} f: row ${fbad}: ours ${fs[fbad]}, DuckDB ${fd[fbad]}`);
  await compare("s.d,mi,s.a,lst", `SELECT s.d AS "s.d", mi, s.a AS "s.a", lst FROM read_parquet('${file}')`, "proj");
  await compare("s.d.e,m", `SELECT s.d.e AS "s.d.e", m FROM read_parquet('${file}')`, "deep");
}
writeFileSync(`${dir}/manifest_writers.json`, JSON.stringify(manifest));
console.log(`nested_writers: ${lines} CSV lines equal to DuckDB's`);
console.log(`nested_writers: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
