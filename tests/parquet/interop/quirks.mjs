// quirks.mjs - hand-made files reproducing other writers' codecs and quirks
// (../quirks.py, written from the format alone): blobstore reads each to the
// rows the generator put in it, and DuckDB reads the same rows from the same
// file; the files blobstore must refuse fail with the exit status and message
// the generator gives (encrypted files, a page CRC that does not match).
// Usage: node quirks.mjs BLOBSTORE_CLI PYTHON WORKDIR
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { DuckDBInstance } from "@duckdb/node-api";
import { tableFromIPC } from "apache-arrow";
import * as parquetWasm from "parquet-wasm";

const [cli, python, dir] = process.argv.slice(2);
let passed = 0, failed = 0;
function check(ok, what) {
  if (ok) passed++;
  else { failed++; console.error(`FAIL: ${what}`); }
}

execFileSync(python, ["../quirks.py", dir]);
const cases = JSON.parse(readFileSync(`${dir}/cases.json`, "utf8"));
const conn = await (await DuckDBInstance.create(":memory:")).connect();

// DuckDB's cells in the CSV form blobstore prints (null empty, true/false).
function cell(v) {
  if (v === null) return "";
  return String(v);
}

// DuckDB has no LZ4 (codec 5): those files are read by parquet-wasm (the
// Rust implementation, Hadoop's framing with the bare-block fallback).
// A page of several Hadoop blocks (as Hadoop's stream writes a page larger
// than its buffer) parquet-wasm 0.6 does not read: checked against the
// generator's values alone.
const duckdbCannot = new Set(["lz4_hadoop", "lz4_bare_block"]);
const noOracle = new Set(["lz4_hadoop_blocks"]);
function wasmCsv(file) {
  const t = tableFromIPC(parquetWasm.readParquet(new Uint8Array(readFileSync(file))).intoIPCStream());
  const names = t.schema.fields.map((f) => f.name);
  const lines = [names.join(",")];
  for (let i = 0; i < t.numRows; i++)
    lines.push(names.map((nm) => cell(t.getChild(nm).get(i))).join(","));
  return lines.join("\n") + "\n";
}

let n = 0;
for (const [name, c] of Object.entries(cases)) {
  const file = `${dir}/${name}.parquet`;
  const store = `${dir}/store${n++}`;
  const put = spawnSync(cli, ["--dir", store, "put", "--key", "k", file], { encoding: "utf8" });
  if (c.exit !== undefined) {
    check(put.status === c.exit, `${name}: put exits ${put.status} (want ${c.exit}): ${put.stderr.trim()}`);
    check(put.stderr.includes(c.message), `${name}: the message names "${c.message}": ${put.stderr.trim()}`);
    continue;
  }
  check(put.status === 0, `${name}: put exits ${put.status}: ${put.stderr.trim()}`);
  if (put.status !== 0) continue;
  execFileSync(cli, ["--dir", store, "get", "k", "-o", `${dir}/${name}.csv`]);
  const got = readFileSync(`${dir}/${name}.csv`, "utf8");
  check(got === c.csv, `${name}: blobstore's rows differ:\n${got.slice(0, 300)}\nwant\n${c.csv.slice(0, 300)}`);
  if (noOracle.has(name)) continue;
  if (duckdbCannot.has(name)) {
    let w;
    try { w = wasmCsv(file); } catch (e) { w = `parquet-wasm fails: ${e}`; }
    check(w === c.csv, `${name}: parquet-wasm's rows differ from the generator's:\n${w.slice(0, 300)}`);
    continue;
  }
  // Nested values: DuckDB's own CSV export of the same file.
  if (c.duckdb_csv) {
    let duck;
    try {
      await conn.run(`COPY (SELECT * FROM read_parquet('${file}')) TO '${dir}/${name}.duck.csv' (HEADER)`);
      duck = readFileSync(`${dir}/${name}.duck.csv`, "utf8");
    } catch (e) { duck = `DuckDB does not read it: ${e.message}`; }
    // (c.duckdb_reads: where DuckDB departs from the format's rules.)
    check(duck === (c.duckdb_reads ?? c.csv), `${name}: DuckDB's CSV differs from the generator's:\n${duck.slice(0, 300)}`);
    continue;
  }
  // The same file through DuckDB, in file order.
  let rows;
  try {
    const r = await conn.runAndReadAll(`SELECT * FROM read_parquet('${file}')`);
    rows = [r.columnNames().join(","), ...r.getRows().map((row) => row.map(cell).join(","))];
  } catch (e) {
    check(false, `${name}: DuckDB does not read it: ${e.message}`);
    continue;
  }
  const duck = rows.join("\n") + "\n";
  check(duck === c.csv, `${name}: DuckDB's rows differ from the generator's:\n${duck.slice(0, 300)}`);
}
console.log(`quirks: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
