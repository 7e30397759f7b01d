// types.mjs - DECIMAL and TIME columns written by DuckDB, read by blobstore
// (put, then get as CSV) to exactly DuckDB's values; and blobstore's own
// Parquet copy (get -o .parquet) read by DuckDB to the same rows and types.
// Then UUID, INTERVAL, unsigned integers, JSON, ENUM (DuckDB), FLOAT16 and
// fixed-size binary (parquet-wasm), and the types DuckDB does not write from
// hyparquet-writer: DECIMAL on BYTE_ARRAY, TIME in ms and ns, BSON, INT96
// timestamps in and far outside 1677..2262. Then DOUBLE and FLOAT text, and
// GEOMETRY as WKB.
// Usage: node types.mjs BLOBSTORE_CLI WORKDIR [SEED]
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { DuckDBInstance } from "@duckdb/node-api";
import { mulberry32 } from "./common.mjs";

const [cli, dir, seedArg] = process.argv.slice(2);
const seed = Number(seedArg ?? 20261202);
console.log(`types: seed ${seed} (rerun: types.sh CLI ${seed})`);
let passed = 0, failed = 0;
function check(ok, what) {
  if (ok) passed++;
  else { failed++; console.error(`FAIL (seed ${seed}): ${what}`); }
}

const rand = mulberry32(seed);
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
// as DuckDB's text, unsigned integers of every width, JSON, ENUM, written by
// DuckDB (both page versions, three codecs); FLOAT16 and plain
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

// Types DuckDB does not write, from hyparquet-writer 0.17.0 (its own pages,
// encodings and footer): DECIMAL on BYTE_ARRAY (minimal big-endian two's
// complement; hyparquet-writer writes 0 as an empty value, which DuckDB reads
// as 0), TIME in milliseconds (INT32) and nanoseconds (INT64), BSON documents,
// and INT96 timestamps: nanoseconds within 1677..2262 (read as timestamp[ns])
// and whole microseconds from Julian day 0 (4714 BC) to past 9999 (read as
// timestamp[us], never wrapped). hyparquet-writer has no INT96 values of its
// own: the 12 bytes (nanoseconds of the day, then the Julian day, little
// endian) go in as FIXED_LEN_BYTE_ARRAY(12) and the schema says INT96 before
// the footer is written. Also TIME_NS written by DuckDB. Every value of our
// CSV must be DuckDB's value of the same file (and the generator's), and our
// Parquet copy (get -o x.parquet) must read in DuckDB to the same values.
{
  const { ByteWriter, ParquetWriter } = await import("hyparquet-writer");
  const zlib = await import("node:zlib");
  const DAY_NS = 86400000000000n, JULIAN_1970 = 2440588;
  // RFC 4180 fields of a binary-safe (latin1) CSV: an unquoted empty field is
  // null, a quoted one the empty string.
  const parseCsv = (text) => {
    const rows = [];
    let row = [], i = 0;
    while (i < text.length) {
      let field = "";
      if (text[i] === '"') {
        i++;
        for (;;) {
          const q = text.indexOf('"', i);
          if (q < 0) throw new Error("unterminated quote");
          field += text.slice(i, q);
          if (text[q + 1] === '"') { field += '"'; i = q + 2; } else { i = q + 1; break; }
        }
      } else {
        let j = i;
        while (j < text.length && text[j] !== "," && text[j] !== "\n") j++;
        field = j > i ? text.slice(i, j) : null;
        i = j;
      }
      row.push(field);
      if (text[i] === ",") i++;
      else { rows.push(row); row = []; i++; }
    }
    return rows;
  };
  // "HH:MM:SS[.f...]" to nanoseconds.
  const timeNs = (t) => {
    const m = /^(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?$/.exec(t ?? "");
    if (!m) return `bad time ${t}`;
    return (BigInt(m[1]) * 3600n + BigInt(m[2]) * 60n + BigInt(m[3])) * 1000000000n + BigInt((m[4] ?? "").padEnd(9, "0"));
  };
  // Days from 1970-01-01 of a proleptic Gregorian date (astronomical years).
  const daysFromCivil = (y, m, d) => {
    y -= m <= 2 ? 1 : 0;
    const era = Math.floor(y / 400), yoe = y - era * 400;
    const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
    return era * 146097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719468;
  };
  // Our "[-]Y-MM-DD HH:MM:SS.ffffff[fff]" to nanoseconds since 1970.
  const stampNs = (t) => {
    const m = /^(-?\d{4,6})-(\d\d)-(\d\d) (\d\d:\d\d:\d\d(?:\.\d{6}|\.\d{9}))$/.exec(t ?? "");
    if (!m) return `bad timestamp ${t}`;
    return BigInt(daysFromCivil(Number(m[1]), Number(m[2]), Number(m[3]))) * DAY_NS + timeNs(m[4]);
  };
  const floorDiv = (a, b) => (a >= 0n ? a / b : -((-a + b - 1n) / b));

  const n = 5000;
  const decs = [[1, 0], [9, 2], [18, 18], [19, 4], [30, 10], [38, 0], [38, 38]];
  const nul = (i, k) => (i * 7 + k * 3) % 17 === 5;
  const big = (p) => 10n ** BigInt(p) - 1n;
  // Unscaled decimals: the largest of the precision both signs, 0, +-1, then random digits.
  const decVals = decs.map(([p], k) => Array.from({ length: n }, (_, i) => {
    if (nul(i, k) && i > 4) return null;
    if (i < 5) return [big(p), -big(p), 0n, 1n, -1n][i];
    const v = BigInt(digits(1 + Math.floor(rand() * p)));
    return rand() < 0.5 ? -v : v;
  }));
  const decText = (v, s) => {
    if (v === null) return null;
    const neg = v < 0n, d = (neg ? -v : v).toString().padStart(s + 1, "0");
    return (neg ? "-" : "") + (s ? d.slice(0, d.length - s) + "." + d.slice(d.length - s) : d);
  };
  const tms = Array.from({ length: n }, (_, i) => (i < 2 ? [0, 86399999][i] : nul(i, 8) ? null : Math.floor(rand() * 86400000)));
  const tns = Array.from({ length: n }, (_, i) => (i < 2 ? [0n, DAY_NS - 1n][i] : nul(i, 9) ? null
    : BigInt(Math.floor(rand() * 86400)) * 1000000000n + BigInt(Math.floor(rand() * 1e9))));
  // BSON documents: int32, string, double and bool elements, names with bytes CSV must quote.
  const names = ["a", "b,c", 'q"', "n\nl", "é", ""];
  const bsonDoc = () => {
    const parts = [];
    const cstr = (t) => [...Buffer.from(t, "utf8"), 0];
    const le32 = (v) => { const b = Buffer.alloc(4); b.writeInt32LE(v); return [...b]; };
    for (let e = Math.floor(rand() * 4); e > 0; e--) {
      const name = cstr(names[Math.floor(rand() * names.length)]);
      const kind = Math.floor(rand() * 4);
      if (kind === 0) parts.push(0x10, ...name, ...le32(Math.floor(rand() * 2 ** 32) - 2 ** 31));
      else if (kind === 1) { const s = cstr(["", "x", "a,b\n\"c\"", "\r\n", "ü"][Math.floor(rand() * 5)]); parts.push(0x02, ...name, ...le32(s.length), ...s); }
      else if (kind === 2) { const b = Buffer.alloc(8); b.writeDoubleLE((rand() - 0.5) * 1e6); parts.push(0x01, ...name, ...b); }
      else parts.push(0x08, ...name, rand() < 0.5 ? 1 : 0);
    }
    return new Uint8Array([...le32(parts.length + 5), ...parts, 0]);
  };
  const bsons = Array.from({ length: n }, (_, i) => (nul(i, 10) ? null : i === 1 ? new Uint8Array([5, 0, 0, 0, 0]) : bsonDoc()));
  // INT96: [days since 1970, nanoseconds of the day].
  const i96ns = Array.from({ length: n }, (_, i) => (i < 3 ? [[-106752, 763145224192n], [106751, 85636854775807n], [0, 1n]][i]
    : nul(i, 11) ? null : [Math.floor(rand() * 213502) - 106751, BigInt(Math.floor(rand() * 86400e6)) * 1000n + BigInt(Math.floor(rand() * 1000))]));
  const i96far = Array.from({ length: n }, (_, i) => (i < 4 ? [[-JULIAN_1970, 0n], [2932896, DAY_NS - 1000n], [-719162, 0n], [10000000, 123456000n]][i]
    : nul(i, 12) ? null : [Math.floor(rand() * 5400000) - JULIAN_1970, BigInt(Math.floor(rand() * 86400e6)) * 1000n]));
  const i96bytes = (v) => {
    if (v === null) return null;
    const b = new Uint8Array(12), dv = new DataView(b.buffer);
    dv.setBigInt64(0, v[1], true);
    dv.setInt32(8, v[0] + JULIAN_1970, true);
    return b;
  };
  const opt = { repetition_type: "OPTIONAL" };
  const schema = [{ name: "root", num_children: decs.length + 5 },
    ...decs.map(([p, s]) => ({ name: `d${p}_${s}`, type: "BYTE_ARRAY", ...opt, converted_type: "DECIMAL", precision: p, scale: s,
      logical_type: { type: "DECIMAL", precision: p, scale: s } })),
    { name: "tm", type: "INT32", ...opt, converted_type: "TIME_MILLIS", logical_type: { type: "TIME", isAdjustedToUTC: false, unit: "MILLIS" } },
    { name: "tn", type: "INT64", ...opt, logical_type: { type: "TIME", isAdjustedToUTC: false, unit: "NANOS" } },
    // (DuckDB refuses the legacy converted type BSON (20); the logical type alone.)
    { name: "bs", type: "BYTE_ARRAY", ...opt, logical_type: { type: "BSON" } },
    { name: "i96ns", type: "FIXED_LEN_BYTE_ARRAY", type_length: 12, ...opt },
    { name: "i96far", type: "FIXED_LEN_BYTE_ARRAY", type_length: 12, ...opt }];
  const cols = schema.slice(1).map((e) => e.name);
  const columnData = [...decVals.map((data, k) => ({ name: cols[k], data })),
    { name: "tm", data: tms }, { name: "tn", data: tns }, { name: "bs", data: bsons },
    { name: "i96ns", data: i96ns.map(i96bytes) }, { name: "i96far", data: i96far.map(i96bytes) }];
  const hyFile = (codec, rowGroupSize, pageSize) => {
    const writer = new ByteWriter();
    // (No statistics: an INT96 column has no defined order.)
    const pw = new ParquetWriter({ writer, schema: structuredClone(schema), codec, statistics: false,
      compressors: { GZIP: (b) => new Uint8Array(zlib.gzipSync(b)) } });
    pw.write({ columnData, rowGroupSize, pageSize });
    for (const e of pw.schema) if (e.name.startsWith("i96")) { e.type = "INT96"; delete e.type_length; }
    for (const rg of pw.row_groups) for (const c of rg.columns) if (c.meta_data.path_in_schema[0].startsWith("i96")) c.meta_data.type = "INT96";
    pw.finish();
    return new Uint8Array(writer.getBuffer());
  };
  // DuckDB's values of a file, per column, in a form compared exactly.
  const duckValues = async (file) => {
    const sel = [...decs.map(([p, s]) => `CAST(d${p}_${s} AS VARCHAR)`), "CAST(tm AS VARCHAR)", "CAST(tn AS VARCHAR)",
      "lower(hex(bs))", "CAST(epoch_us(i96ns) AS VARCHAR)", "CAST(epoch_us(i96far) AS VARCHAR)"];
    return (await conn.runAndReadAll(`SELECT ${sel.join(", ")} FROM read_parquet('${file}')`)).getRows();
  };
  const hexOf = (latin1) => Buffer.from(latin1, "latin1").toString("hex");
  const wantTypes = [...decs.map(([p, s]) => `decimal(${p},${s})`), "time[ms]", "time[ns]", "binary", "timestamp[ns]", "timestamp[us]"].join(",");
  let cells = 0;
  for (const [codec, rg, page] of [["SNAPPY", 1800, 4096], ["GZIP", 5000, 1 << 20], ["UNCOMPRESSED", 700, 1500]]) {
    const tag = `hyparquet ${codec} rg ${rg} page ${page}`;
    const file = `${dir}/hy_${codec}.parquet`;
    writeFileSync(file, hyFile(codec, rg, page));
    const phys = (await conn.runAndReadAll(`SELECT string_agg(type, ',') FROM parquet_schema('${file}') WHERE type IS NOT NULL`)).getRows()[0][0];
    check(phys === "BYTE_ARRAY,".repeat(decs.length) + "INT32,INT64,BYTE_ARRAY,INT96,INT96", `${tag}: physical types ${phys}`);
    const shape = (await conn.runAndReadAll(`SELECT count(DISTINCT row_group_id), max(row_group_num_rows) FROM parquet_metadata('${file}')`)).getRows()[0];
    check(Number(shape[0]) === Math.ceil(n / rg), `${tag}: ${shape[0]} row groups`);
    const sd = `${dir}/store${store++}`;
    execFileSync(cli, ["--dir", sd, "put", "--key", "h", file]);
    execFileSync(cli, ["--dir", sd, "get", "h", "-o", `${dir}/hy_out.csv`]);
    const out = parseCsv(readFileSync(`${dir}/hy_out.csv`, "latin1"));
    check(out[0].join(",") === cols.join(","), `${tag}: header ${out[0]}`);
    check(out.length === n + 1, `${tag}: ${out.length - 1} rows`);
    const duck = await duckValues(file);
    for (let k = 0; k < cols.length; k++) {
      let bad = -1, why = "";
      for (let i = 0; i < n && bad < 0; i++) {
        const got = out[i + 1] ? out[i + 1][k] : "(missing)", w = duck[i][k];
        let ok;
        if (k < decs.length) {
          const gen = decText(decVals[k][i], decs[k][1]);
          ok = w === null ? got === null && gen === null : got === w.replace(/^(-?)\./, "$10.") && got === gen;
        } else if (cols[k] === "tm" || cols[k] === "tn") {
          const gen = cols[k] === "tm" ? tms[i] : tns[i];
          ok = w === null ? got === null && gen === null
            : timeNs(got) === timeNs(w) && timeNs(got) === (cols[k] === "tm" ? BigInt(gen) * 1000000n : gen) &&
              /^\d\d:\d\d:\d\d\.\d+$/.test(got) && got.length === (cols[k] === "tm" ? 12 : 18);
        } else if (cols[k] === "bs") {
          ok = w === null ? got === null && bsons[i] === null : got !== null && hexOf(got) === w && w === Buffer.from(bsons[i]).toString("hex");
        } else {
          const gen = (cols[k] === "i96ns" ? i96ns : i96far)[i];
          const ns = gen && BigInt(gen[0]) * DAY_NS + gen[1];
          ok = w === null ? got === null && gen === null
            : stampNs(got) === ns && floorDiv(ns, 1000n) === BigInt(w) &&
              got.length - got.indexOf(".") - 1 === (cols[k] === "i96ns" ? 9 : 6);
        }
        if (!ok) { bad = i; why = `ours ${JSON.stringify(got)}, DuckDB ${w}`; }
        else cells++;
      }
      check(bad < 0, `${tag}: ${cols[k]} row ${bad}: ${why}`);
    }
    const meta = JSON.parse(execFileSync(cli, ["--dir", sd, "meta", "h"], { encoding: "utf8" }));
    check(meta.columns.map((c) => c.type).join(",") === wantTypes, `${tag}: meta types ${meta.columns.map((c) => c.type)}`);
    // Our Parquet copy (re-encoded by our writer: get --columns): DuckDB reads
    // the same values from it (DECIMAL on INT32 / INT64 / FIXED_LEN_BYTE_ARRAY,
    // the BSON as a plain BLOB, the INT96 columns as INT64 timestamps).
    const back = `${dir}/hy_back_${codec}.parquet`;
    execFileSync(cli, ["--dir", sd, "get", "h", "--columns", cols.join(","), "-o", back]);
    const bphys = (await conn.runAndReadAll(`SELECT string_agg(type, ',') FROM parquet_schema('${back}') WHERE type IS NOT NULL`)).getRows()[0][0];
    check(bphys === "INT64,INT64,INT64,FIXED_LEN_BYTE_ARRAY,FIXED_LEN_BYTE_ARRAY,FIXED_LEN_BYTE_ARRAY,FIXED_LEN_BYTE_ARRAY,INT32,INT64,BYTE_ARRAY,INT64,INT64",
      `${tag}: our copy's physical types ${bphys}`);
    const dback = await duckValues(back);
    let bad = -1;
    // (i96ns aside: DuckDB's epoch_us of a TIMESTAMP_NS truncates toward 0
    // where that of an INT96 floors; it is compared in nanoseconds below.)
    const noNs = (r) => JSON.stringify(r.filter((_, k) => cols[k] !== "i96ns"));
    for (let i = 0; i < n && bad < 0; i++) if (noNs(dback[i]) !== noNs(duck[i])) bad = i;
    check(bad < 0, `${tag}: DuckDB reads our copy row ${bad}: ${JSON.stringify(dback[bad])}, the original ${JSON.stringify(duck[bad])}`);
    const ns = (await conn.runAndReadAll(`SELECT CAST(epoch_ns(i96ns) AS VARCHAR) FROM read_parquet('${back}')`)).getRows();
    const nbad = ns.findIndex((r, i) => (r[0] === null ? i96ns[i] !== null : BigInt(r[0]) !== BigInt(i96ns[i][0]) * DAY_NS + i96ns[i][1]));
    check(nbad < 0, `${tag}: our copy's i96ns row ${nbad} in DuckDB: ${ns[nbad]}`);
  }
  // TIME_NS as DuckDB writes it (INT64, TIME(NANOS)).
  const tlines = ["t"];
  for (let i = 0; i < n; i++) tlines.push(i % 13 === 3 ? "" : i === 0 ? "23:59:59.999999999" : i === 1 ? "00:00:00" : (() => {
    const v = BigInt(Math.floor(rand() * 86400)) * 1000000000n + BigInt(Math.floor(rand() * 1e9));
    const s = v / 1000000000n, two = (x) => String(x).padStart(2, "0");
    return `${two(s / 3600n)}:${two((s / 60n) % 60n)}:${two(s % 60n)}.${String(v % 1000000000n).padStart(9, "0")}`;
  })());
  writeFileSync(`${dir}/tns.csv`, tlines.join("\n") + "\n");
  await conn.run(`CREATE TABLE tns AS SELECT * FROM read_csv('${dir}/tns.csv', header = true, columns = {'t': 'TIME_NS'})`);
  for (const version of ["V1", "V2"]) {
    const file = `${dir}/tns_${version}.parquet`;
    await conn.run(`COPY tns TO '${file}' (FORMAT PARQUET, PARQUET_VERSION ${version}, ROW_GROUP_SIZE 2048)`);
    const sd = `${dir}/store${store++}`;
    execFileSync(cli, ["--dir", sd, "put", "--key", "t", file]);
    execFileSync(cli, ["--dir", sd, "get", "t", "-o", `${dir}/tns_out.csv`]);
    const out = readFileSync(`${dir}/tns_out.csv`, "utf8").trimEnd().split("\n");
    const want = (await conn.runAndReadAll(`SELECT CAST(t AS VARCHAR) FROM read_parquet('${file}')`)).getRows().map((r) => r[0]);
    const bad = want.findIndex((w, i) => (w === null ? out[i + 1] !== "" : timeNs(out[i + 1]) !== timeNs(w) || timeNs(w) !== timeNs(tlines[i + 1])));
    check(bad < 0 && out.length === n + 1, `DuckDB TIME_NS (${version}): row ${bad}: ours ${out[bad + 1]}, DuckDB ${want[bad]}`);
    if (bad < 0) cells += n;
    const meta = JSON.parse(execFileSync(cli, ["--dir", sd, "meta", "t"], { encoding: "utf8" }));
    check(meta.columns[0].type === "time[ns]", `DuckDB TIME_NS: meta type ${meta.columns[0].type}`);
  }
  console.log(`types: hyparquet-writer DECIMAL on BYTE_ARRAY, TIME ms/ns, BSON, INT96 and DuckDB TIME_NS: ${cells} cells equal to DuckDB's`);
}

// DOUBLE and FLOAT in our CSV of a file DuckDB writes: every value reads
// back in DuckDB as the same DOUBLE / FLOAT, every double in the shortest
// digits that do (as JavaScript's Number#toString gives them: the same as
// Python's repr), and no float longer than DuckDB's own text (DuckDB 1.5.6
// writes some floats in more digits than needed, and some powers of two
// wrongly: 2^91 as 4.951760157141521e+27, that is 2^92). Values: any bit
// pattern, short decimals, dyadic fractions, integers, powers of two and
// their neighbours, subnormals, the extremes, ±0, NaN and ±inf.
{
  const buf = new DataView(new ArrayBuffer(8));
  const any = () => { buf.setUint32(0, Math.floor(rand() * 2 ** 32)); buf.setUint32(4, Math.floor(rand() * 2 ** 32)); return buf.getFloat64(0); };
  const special = [0, -0, NaN, Infinity, -Infinity, 5e-324, 1.7976931348623157e308, 2.2250738585072014e-308, 0.1, 1 / 3, 1e16, 1e15,
    1e-5, 1e-4, 123456789, 9007199254740993, 1.401298464324817e-45, 3.4028234663852886e38, 1.1754943508222875e-38];
  const text = (v) => Number.isNaN(v) ? "nan" : v === Infinity ? "inf" : v === -Infinity ? "-inf" : Object.is(v, -0) ? "-0.0" : String(v);
  // sign, digits without leading or trailing zeros, and the exponent of the first
  const canon = (t) => {
    const m = /^(-?)(\d*)\.?(\d*)(?:e([+-]?\d+))?$/.exec(t);
    if (!m) return t;
    const all = m[2] + m[3], lead = all.length - all.replace(/^0+/, "").length;
    const digits = all.replace(/^0+/, "").replace(/0+$/, "");
    return digits ? `${m[1]}${digits}e${m[2].length - lead - 1 + Number(m[4] ?? 0)}` : `${m[1]}0`;
  };
  const flines = ["d,f"];
  for (let i = 0; i < 6000; i++) {
    let d;
    switch (i % 6) {
      case 0: d = any(); break;
      case 1: d = Math.floor(rand() * 1e8) / (1 + Math.floor(rand() * 1e5)); break;
      case 2: d = Math.floor(rand() * 2 ** 53) * 2 ** (Math.floor(rand() * 64) - 60); break;
      case 3: d = Math.floor(rand() * 2 ** 53) * 2 ** Math.floor(rand() * 12); break;
      case 4: d = 2 ** (Math.floor(rand() * 2098) - 1074) * (1 + (Math.floor(rand() * 3) - 1) * 2 ** -52); break;
      default: d = i < special.length * 6 ? special[i / 6 | 0] : (rand() - 0.5) * 2 ** (Math.floor(rand() * 300) - 150);
    }
    if (rand() < 0.5) d = -d;
    const f = Math.fround(i % 6 === 0 ? any() : d);
    flines.push(`${i % 17 === 4 ? "" : text(d)},${i % 13 === 2 ? "" : text(f)}`);
  }
  writeFileSync(`${dir}/floats.csv`, flines.join("\n") + "\n");
  const cols = "columns = {'d': 'DOUBLE', 'f': 'FLOAT'}";
  await conn.run(`CREATE TABLE floats AS SELECT * FROM read_csv('${dir}/floats.csv', header = true, ${cols})`);
  const file = `${dir}/floats.parquet`;
  await conn.run(`COPY floats TO '${file}' (FORMAT PARQUET)`);
  const sd = `${dir}/store${store++}`;
  execFileSync(cli, ["--dir", sd, "put", "--key", "f", file]);
  execFileSync(cli, ["--dir", sd, "get", "f", "-o", `${dir}/floats_out.csv`]);
  await conn.run(`COPY (SELECT * FROM read_parquet('${file}')) TO '${dir}/floats_duck.csv' (HEADER)`);
  const ours = readFileSync(`${dir}/floats_out.csv`, "utf8").trimEnd().split("\n").slice(1).map((l) => l.split(","));
  const duck = readFileSync(`${dir}/floats_duck.csv`, "utf8").trimEnd().split("\n").slice(1).map((l) => l.split(","));
  const back = await conn.runAndReadAll(`SELECT count(*)::INTEGER FROM
    (SELECT *, row_number() OVER () rn FROM read_parquet('${file}')) a JOIN
    (SELECT *, row_number() OVER () rn FROM read_csv('${dir}/floats_out.csv', header = true, ${cols})) b USING (rn)
    WHERE a.d IS NOT DISTINCT FROM b.d AND a.f IS NOT DISTINCT FROM b.f`);
  check(back.getRows()[0][0] === flines.length - 1 && ours.length === flines.length - 1,
    `floats: ${back.getRows()[0][0]} of ${flines.length - 1} rows read back by DuckDB as its values`);
  const vals = (await conn.runAndReadAll(`SELECT d FROM read_parquet('${file}')`)).getRows();
  let bad = -1, shorter = 0, wrongDuck = 0;
  for (let i = 0; i < ours.length && bad < 0; i++) {
    const v = vals[i][0], [od, of] = ours[i], [dd, df] = duck[i];
    const wantD = v === null ? "" : text(v);
    if (canon(od) !== canon(wantD) || (v !== null && Number.isFinite(v) && !/[.e]/.test(od))) bad = i;
    if (of.replace(/^-|\.0$|e.*$/g, "").replace(".", "").replace(/^0+/, "").length >
        df.replace(/^-|\.0$|e.*$/g, "").replace(".", "").replace(/^0+/, "").length) bad = i;
    shorter += of !== df;
    wrongDuck += canon(dd) !== canon(wantD);
  }
  check(bad < 0, `floats: row ${bad}: ours ${ours[bad]}, want double ${vals[bad]?.[0]}, DuckDB's CSV ${duck[bad]}`);
  console.log(`types: ${ours.length} DOUBLE and FLOAT rows: ${shorter} floats shorter than DuckDB writes them, ${wrongDuck} doubles DuckDB writes wrong`);
}

// GEOMETRY written by DuckDB reads as its WKB bytes ("binary"), and our copy
// of the file (get -o x.parquet, which keeps the file's "geo" key-value
// metadata) reads in DuckDB as the same geometries: ST_AsWKB equal row by
// row (points, lines and polygons of random coordinates, and nulls).
{
  const wkt = [];
  for (let i = 0; i < 400; i++) {
    const c = () => `${(rand() * 360 - 180).toFixed(6)} ${(rand() * 180 - 90).toFixed(6)}`;
    const k = i % 4;
    wkt.push(k === 3 ? "NULL" : k === 0 ? `'POINT(${c()})'` : k === 1 ? `'LINESTRING(${c()}, ${c()}, ${c()})'`
      : `'POLYGON((0 0, ${c()}, ${c()}, 0 0))'`);
  }
  const file = `${dir}/geo.parquet`, ours = `${dir}/geo_out.parquet`;
  await conn.run(`COPY (SELECT i, g::GEOMETRY AS g FROM (VALUES ${wkt.map((w, i) => `(${i}, ${w})`).join(", ")}) t(i, g)) TO '${file}' (FORMAT PARQUET)`);
  const sd = `${dir}/store${store++}`;
  execFileSync(cli, ["--dir", sd, "put", "--key", "g", file]);
  execFileSync(cli, ["--dir", sd, "get", "g", "-o", ours]);
  const meta = JSON.parse(execFileSync(cli, ["--dir", sd, "meta", "g"], { encoding: "utf8" }));
  check(meta.columns.map((c) => c.type).join(",") === "int32,binary", `GEOMETRY: meta types ${meta.columns.map((c) => c.type)}`);
  const diff = await conn.runAndReadAll(`SELECT count(*)::INTEGER FROM
    (SELECT i, hex(ST_AsWKB(g)) h FROM read_parquet('${file}')) a JOIN (SELECT i, hex(ST_AsWKB(g)) h FROM read_parquet('${ours}')) b USING (i)
    WHERE a.h IS NOT DISTINCT FROM b.h`);
  check(diff.getRows()[0][0] === wkt.length, `GEOMETRY: ${diff.getRows()[0][0]} of ${wkt.length} rows keep DuckDB's WKB`);
  console.log(`types: ${wkt.length} GEOMETRY values read as their WKB bytes and kept`);
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
