// types.mjs - DECIMAL and TIME columns written by DuckDB, read by blobstore
// (put, then get as CSV) to exactly DuckDB's values; and blobstore's own
// Parquet copy (get -o .parquet) read by DuckDB to the same rows and types.
// Usage: node types.mjs BLOBSTORE_CLI WORKDIR [SEED]
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { DuckDBInstance } from "@duckdb/node-api";

const [cli, dir, seedArg] = process.argv.slice(2);
const seed = Number(seedArg ?? 20261202);
let passed = 0, failed = 0;
function check(ok, what) {
  if (ok) passed++;
  else { failed++; console.error(`FAIL (seed ${seed}): ${what}`); }
}

// A seeded generator (mulberry32).
let state = seed >>> 0;
function rand() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
function digits(n) { let s = ""; for (let i = 0; i < n; i++) s += Math.floor(rand() * 10); return s; }

// DECIMAL(p,s) on INT32 (p <= 9) and INT64 (p <= 18), TIME (INT64 micros).
const decimals = [[1, 0], [4, 2], [9, 0], [9, 9], [10, 2], [18, 6], [18, 18], [18, 0]];
const nrows = 1500;
const cols = decimals.map(([p, s]) => ({ name: `d${p}_${s}`, sql: `DECIMAL(${p},${s})`, p, s }));
cols.push({ name: "t", sql: "TIME" });
const lines = [cols.map((c) => c.name).join(",")];
for (let i = 0; i < nrows; i++) {
  lines.push(cols.map((c) => {
    if (i % 11 === 5) return ""; // null
    if (c.sql === "TIME") {
      const us = i === 0 ? 0 : i === 1 ? 86399999999 : Math.floor(rand() * 86400e6);
      const sec = Math.floor(us / 1e6);
      return `${String(Math.floor(sec / 3600)).padStart(2, "0")}:${String(Math.floor(sec / 60) % 60).padStart(2, "0")}:` +
        `${String(sec % 60).padStart(2, "0")}.${String(us % 1e6).padStart(6, "0")}`;
    }
    // Edge values (the largest of the precision, both signs, zero), then random digits.
    const all9 = "9".repeat(c.p);
    let d = i === 0 ? all9 : i === 1 ? all9 : i === 2 ? "0" : digits(1 + Math.floor(rand() * c.p));
    d = d.replace(/^0+(?=\d)/, "");
    const neg = i === 1 || (i > 2 && rand() < 0.5);
    const int = d.length > c.s ? d.slice(0, d.length - c.s) : "0";
    const frac = c.s ? "." + d.padStart(c.s, "0").slice(-c.s) : "";
    return (neg ? "-" : "") + int + frac;
  }).join(","));
}
writeFileSync(`${dir}/in.csv`, lines.join("\n") + "\n");

const inst = await DuckDBInstance.create(":memory:");
const conn = await inst.connect();
const colTypes = "{" + cols.map((c) => `'${c.name}': '${c.sql}'`).join(", ") + "}";
await conn.run(`CREATE TABLE src AS SELECT * FROM read_csv('${dir}/in.csv', header = true, columns = ${colTypes})`);

// Time of day as microseconds since midnight, from "HH:MM:SS[.ffffff]".
function micros(t) {
  const m = /^(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?$/.exec(t);
  if (!m) return `bad time ${t}`;
  const frac = (m[4] ?? "").padEnd(9, "0");
  return ((BigInt(m[1]) * 3600n + BigInt(m[2]) * 60n + BigInt(m[3])) * 1000000000n + BigInt(frac)) / 1000n;
}

const codecs = ["SNAPPY", "UNCOMPRESSED"];
let store = 0;
for (const codec of codecs) {
  for (const version of ["V1", "V2"]) {
    const file = `${dir}/duck_${codec}_${version}.parquet`;
    await conn.run(`COPY src TO '${file}' (FORMAT PARQUET, COMPRESSION ${codec}, PARQUET_VERSION ${version}, ROW_GROUP_SIZE 500)`);
    const sd = `${dir}/store${store++}`;
    execFileSync(cli, ["--dir", sd, "put", "--key", "k", file]);
    execFileSync(cli, ["--dir", sd, "get", "k", "-o", `${dir}/out.csv`]);
    const out = readFileSync(`${dir}/out.csv`, "utf8").trimEnd().split("\n").map((l) => l.split(","));
    check(out[0].join(",") === cols.map((c) => c.name).join(","), `header (${codec} ${version})`);
    check(out.length === nrows + 1, `row count ${out.length - 1} (${codec} ${version})`);
    for (let k = 0; k < cols.length; k++) {
      const c = cols[k];
      const r = await conn.runAndReadAll(`SELECT CAST("${c.name}" AS VARCHAR) FROM read_parquet('${file}')`);
      const want = r.getRows().map((row) => row[0]);
      let bad = -1;
      for (let i = 0; i < nrows && bad < 0; i++) {
        const got = out[i + 1][k];
        const w = want[i];
        // (DuckDB writes DECIMAL(p,p) as ".5"; we write the leading zero, "0.5".)
        const ok = w === null ? got === "" : c.sql === "TIME" ? micros(got) === micros(w)
          : got === w.replace(/^(-?)\./, "$10.");
        if (!ok) bad = i;
      }
      check(bad < 0, `${c.name} (${codec} ${version}): row ${bad}: got ${bad >= 0 ? out[bad + 1][k] : ""}, DuckDB ${bad >= 0 ? want[bad] : ""}`);
    }
    const meta = JSON.parse(execFileSync(cli, ["--dir", sd, "meta", "k"], { encoding: "utf8" }));
    check(meta.columns.map((c) => c.type).join(",") ===
      cols.map((c) => c.sql === "TIME" ? "time[us]" : `decimal(${c.p},${c.s})`).join(","),
      `meta types: ${meta.columns.map((c) => c.type)}`);
    // Our own Parquet copy: DuckDB sees the same types and exactly the same rows.
    const back = `${dir}/back_${codec}_${version}.parquet`;
    execFileSync(cli, ["--dir", sd, "get", "k", "-o", back]);
    const types = async (f) => (await conn.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${f}')`)).getRows().map((r) => `${r[0]} ${r[1]}`).join(",");
    check(await types(back) === await types(file), `types of our copy: ${await types(back)}`);
    for (const [a, b] of [[file, back], [back, file]]) {
      const r = await conn.runAndReadAll(`SELECT count(*) FROM (SELECT * FROM read_parquet('${a}') EXCEPT ALL SELECT * FROM read_parquet('${b}'))`);
      check(Number(r.getRows()[0][0]) === 0, `rows of ${a} missing from ${b}`);
    }
  }
}
// DECIMAL above 18 digits, which DuckDB writes as FIXED_LEN_BYTE_ARRAY: read
// exactly, and written back (FIXED_LEN_BYTE_ARRAY(16)) to the same rows.
const wide = [[19, 0], [25, 3], [38, 10], [38, 38]];
const wlines = [wide.map(([p, s]) => `w${p}_${s}`).join(",")];
for (let i = 0; i < 400; i++) {
  wlines.push(wide.map(([p, s]) => {
    if (i % 13 === 4) return "";
    const all9 = "9".repeat(p);
    let d = i < 2 ? all9 : i === 2 ? "0" : digits(1 + Math.floor(rand() * p));
    d = d.replace(/^0+(?=\d)/, "");
    const neg = i === 1 || (i > 2 && rand() < 0.5);
    const int = d.length > s ? d.slice(0, d.length - s) : "0";
    return (neg ? "-" : "") + int + (s ? "." + d.padStart(s, "0").slice(-s) : "");
  }).join(","));
}
writeFileSync(`${dir}/wide.csv`, wlines.join("\n") + "\n");
const wideTypes = "{" + wide.map(([p, s]) => `'w${p}_${s}': 'DECIMAL(${p},${s})'`).join(", ") + "}";
await conn.run(`CREATE TABLE wide AS SELECT * FROM read_csv('${dir}/wide.csv', header = true, columns = ${wideTypes})`);
for (const version of ["V1", "V2"]) {
  const file = `${dir}/wide_${version}.parquet`;
  await conn.run(`COPY wide TO '${file}' (FORMAT PARQUET, PARQUET_VERSION ${version}, ROW_GROUP_SIZE 150)`);
  const phys = await conn.runAndReadAll(`SELECT DISTINCT type FROM parquet_schema('${file}') WHERE name LIKE 'w%'`);
  check(phys.getRows().map((r) => r[0]).join() === "FIXED_LEN_BYTE_ARRAY", `DuckDB writes FIXED_LEN_BYTE_ARRAY (${version})`);
  const sd = `${dir}/store${store++}`;
  execFileSync(cli, ["--dir", sd, "put", "--key", "w", file]);
  execFileSync(cli, ["--dir", sd, "get", "w", "-o", `${dir}/wide_out.csv`]);
  const out = readFileSync(`${dir}/wide_out.csv`, "utf8").trimEnd().split("\n").map((l) => l.split(","));
  check(out.length === 401, `wide row count ${out.length - 1} (${version})`);
  for (let k = 0; k < wide.length; k++) {
    const name = `w${wide[k][0]}_${wide[k][1]}`;
    const r = await conn.runAndReadAll(`SELECT CAST("${name}" AS VARCHAR) FROM read_parquet('${file}')`);
    const want = r.getRows().map((row) => row[0]);
    let bad = -1;
    for (let i = 0; i < 400 && bad < 0; i++) {
      const got = out[i + 1][k], w = want[i];
      if (!(w === null ? got === "" : got === w.replace(/^(-?)\./, "$10."))) bad = i;
    }
    check(bad < 0, `${name} (${version}): row ${bad}: got ${bad >= 0 ? out[bad + 1][k] : ""}, DuckDB ${bad >= 0 ? want[bad] : ""}`);
  }
  // Our copy (re-encoded: get --columns) holds DuckDB's types and rows.
  const back = `${dir}/wide_back_${version}.parquet`;
  execFileSync(cli, ["--dir", sd, "get", "w", "--columns", wide.map(([p, s]) => `w${p}_${s}`).join(","), "-o", back]);
  const types = async (f) => (await conn.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${f}')`)).getRows().map((r) => `${r[0]} ${r[1]}`).join(",");
  check(await types(back) === await types(file), `types of our wide copy: ${await types(back)}`);
  for (const [a, b] of [[file, back], [back, file]]) {
    const r = await conn.runAndReadAll(`SELECT count(*) FROM (SELECT * FROM read_parquet('${a}') EXCEPT ALL SELECT * FROM read_parquet('${b}'))`);
    check(Number(r.getRows()[0][0]) === 0, `rows of ${a} missing from ${b}`);
  }
  // Its statistics: DuckDB's min and max of each column match ours.
  for (const [p, s] of wide) {
    const q = (f) => `SELECT CAST(min(w${p}_${s}) AS VARCHAR), CAST(max(w${p}_${s}) AS VARCHAR) FROM read_parquet('${f}')`;
    const st = await conn.runAndReadAll(`SELECT min(CAST(stats_min_value AS DECIMAL(${p},${s}))), max(CAST(stats_max_value AS DECIMAL(${p},${s}))) FROM parquet_metadata('${back}') WHERE path_in_schema = 'w${p}_${s}'`);
    const lead0 = (rows) => JSON.stringify(rows.map((r) => r.map((v) => String(v).replace(/^(-?)\./, "$10."))));
    const got = lead0(st.getRows());
    const want = lead0((await conn.runAndReadAll(q(file))).getRows());
    check(got === want, `statistics of w${p}_${s}: ${got}, want ${want}`);
  }
}

// The other logical types (issue 15): UUID and INTERVAL (FIXED_LEN_BYTE_ARRAY)
// as DuckDB's text, unsigned integers of every width, JSON, ENUM, BSON as
// bytes, written by DuckDB (both page versions, two codecs); FLOAT16 and plain
// fixed-size binary written by parquet-wasm (the Rust implementation). Our CSV
// must hold, cell by cell, what DuckDB reads from the same file.
{
  const m = 1200;
  const hex = () => Array.from({ length: 32 }, () => "0123456789abcdef"[Math.floor(rand() * 16)]).join("");
  const olines = ["u,iv,u8,u16,u32,u64,j,e"];
  const u32max = 4294967295, u64max = 18446744073709551615n;
  for (let i = 0; i < m; i++) {
    const nul = (k) => (i + k) % 9 === 4;
    const h = i === 0 ? "0".repeat(32) : i === 1 ? "f".repeat(32) : hex();
    const uuid = `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    const months = i < 2 ? 0 : Math.floor(rand() * 400), days = Math.floor(rand() * 40);
    const ms = i === 2 ? 86399999 : Math.floor(rand() * 100000000);
    const iv = `${months} months ${days} days ${ms} milliseconds`;
    const u8 = i === 0 ? 255 : Math.floor(rand() * 256), u16 = i === 0 ? 65535 : Math.floor(rand() * 65536);
    const u32 = i === 0 ? u32max : Math.floor(rand() * u32max);
    const u64 = i === 0 ? u64max : BigInt(Math.floor(rand() * 2 ** 53)) * 2048n + BigInt(i);
    olines.push([nul(0) ? "" : uuid, nul(1) ? "" : iv, nul(2) ? "" : u8, nul(3) ? "" : u16, nul(4) ? "" : u32,
                 nul(5) ? "" : u64, nul(6) ? "" : `"{""a"":${i},""s"":""é${i % 7}""}"`, nul(7) ? "" : ["red", "green", "blue"][i % 3]].join(","));
  }
  writeFileSync(`${dir}/other.csv`, olines.join("\n") + "\n");
  await conn.run(`CREATE TYPE colour AS ENUM ('red', 'green', 'blue')`);
  await conn.run(`CREATE TABLE other AS SELECT * FROM read_csv('${dir}/other.csv', header = true, columns = {
    'u': 'UUID', 'iv': 'INTERVAL', 'u8': 'UTINYINT', 'u16': 'USMALLINT', 'u32': 'UINTEGER', 'u64': 'UBIGINT',
    'j': 'JSON', 'e': 'colour'})`);
  const names = ["u", "iv", "u8", "u16", "u32", "u64", "j", "e"];
  for (const [codec, version] of [["SNAPPY", "V1"], ["ZSTD", "V2"], ["BROTLI", "V2"]]) {
    const file = `${dir}/other_${codec}_${version}.parquet`;
    await conn.run(`COPY other TO '${file}' (FORMAT PARQUET, COMPRESSION ${codec}, PARQUET_VERSION ${version}, ROW_GROUP_SIZE 500)`);
    const sd = `${dir}/store${store++}`;
    execFileSync(cli, ["--dir", sd, "put", "--key", "o", file]);
    execFileSync(cli, ["--dir", sd, "get", "o", "-o", `${dir}/other_out.csv`]);
    const dq = await conn.runAndReadAll(`COPY (SELECT * FROM read_parquet('${file}')) TO '${dir}/other_duck.csv' (HEADER)`);
    const ours = readFileSync(`${dir}/other_out.csv`, "utf8"), duck = readFileSync(`${dir}/other_duck.csv`, "utf8");
    const ol = ours.split("\n"), dl = duck.split("\n");
    const bad = ol.findIndex((l, i) => l !== dl[i]);
    check(bad < 0 && ol.length === m + 2, `other types (${codec} ${version}): line ${bad}: ours ${ol[bad]}, DuckDB's CSV ${dl[bad]}`);
    const meta = JSON.parse(execFileSync(cli, ["--dir", sd, "meta", "o"], { encoding: "utf8" }));
    check(meta.columns.map((c) => c.type).join(",") === "string,string,uint8,uint16,uint32,uint64,string,string",
      `meta types of the other types: ${meta.columns.map((c) => c.type)}`);
  }
  // FLOAT16 and fixed-size binary from parquet-wasm.
  const { Float16, FixedSizeBinary, Table, makeData, makeVector, vectorFromArray, tableToIPC } = await import("apache-arrow");
  const parquetWasm = await import("parquet-wasm");
  const halves = [0, -0, 1.5, -0.25, null, 65504, -65504, 0.0001, 6.1e-5, 5.96e-8, Infinity, -Infinity];
  for (let i = 0; i < 300; i++) halves.push(i % 10 === 3 ? null : (rand() - 0.5) * 2 ** Math.floor(rand() * 30 - 14));
  const fixed = new Uint8Array(halves.length * 4);
  for (let i = 0; i < fixed.length; i++) fixed[i] = 97 + Math.floor(rand() * 26);
  const t = new Table({ h: vectorFromArray(halves, new Float16()),
    b: makeVector(makeData({ type: new FixedSizeBinary(4), length: halves.length, nullCount: 0, data: fixed })) });
  const file = `${dir}/wasm_flba.parquet`;
  writeFileSync(file, parquetWasm.writeParquet(parquetWasm.Table.fromIPCStream(tableToIPC(t, "stream"))));
  const phys = await conn.runAndReadAll(`SELECT name, type, type_length FROM parquet_schema('${file}') WHERE name IN ('h', 'b') ORDER BY name`);
  check(JSON.stringify(phys.getRows().map((r) => r.map(String))) === '[["b","FIXED_LEN_BYTE_ARRAY","4"],["h","FIXED_LEN_BYTE_ARRAY","2"]]',
    `parquet-wasm writes FIXED_LEN_BYTE_ARRAY: ${phys.getRows()}`);
  const sd = `${dir}/store${store++}`;
  execFileSync(cli, ["--dir", sd, "put", "--key", "f", file]);
  execFileSync(cli, ["--dir", sd, "get", "f", "-o", `${dir}/flba.csv`]);
  const rows = readFileSync(`${dir}/flba.csv`, "utf8").trimEnd().split("\n").slice(1).map((l) => l.split(","));
  const dr = (await conn.runAndReadAll(`SELECT h, CAST(b AS VARCHAR) FROM read_parquet('${file}')`)).getRows();
  let bad = -1;
  for (let i = 0; i < halves.length && bad < 0; i++) {
    const [h, b] = rows[i] ?? [];
    const v = Number(String(h).replace("inf", "Infinity"));
    const okh = dr[i][0] === null ? h === "" : Object.is(Math.fround(v), Math.fround(dr[i][0]));
    if (!okh || b !== dr[i][1]) bad = i;
  }
  check(bad < 0 && rows.length === halves.length, `FLOAT16 / fixed binary: row ${bad}: ours ${rows[bad]}, DuckDB ${dr[bad]}`);
  const meta = JSON.parse(execFileSync(cli, ["--dir", sd, "meta", "f"], { encoding: "utf8" }));
  check(meta.columns.map((c) => c.type).join(",") === "float32,binary", `meta types: ${meta.columns.map((c) => c.type)}`);
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
