// nested.mjs - nested Parquet columns (issue 15) written by DuckDB from a
// seeded generator (LIST, STRUCT, MAP and their nestings, nulls at every
// level, special strings), at sizes crossing pages and row groups, under
// every codec and both page versions: blobstore's CSV of each file must
// equal DuckDB's own CSV export of it line by line, and so must projections
// (a nested column by its name, a struct field by its dotted path). Writes
// WORKDIR/manifest.json (store, key, DuckDB's JSON rows) for nested_check.py,
// which compares the pandas cells with DuckDB's values.
// Then the writer (issue 15): each file read by blobstore is written again
// by blobstore's writer (pq_tool rewrite, beside the CLI) under every codec,
// with the default page and row group sizes and with small ones (pages of a
// few records and bytes, row groups of a few hundred rows), and through
// `get --columns ... -o x.parquet`: DuckDB's CSV export of our file must
// equal its CSV export of its own file line by line (every cell), and so
// must blobstore's CSV of our file put back (our reader).
// Usage: node nested.mjs BLOBSTORE_CLI WORKDIR [SEED]
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { compareCsvLines } from "./common.mjs";

const [cli, dir, seedArg] = process.argv.slice(2);
const seed = seedArg ? Number(seedArg) : Math.floor(Math.random() * 1000) / 1000;
console.log(`nested: seed ${seed} (rerun: node nested.mjs CLI DIR ${seed})`);
let passed = 0, failed = 0, lines = 0, wlines = 0, wfiles = 0;
const pqTool = join(dirname(cli), "pq_tool");
if (!existsSync(pqTool)) { console.error(`nested: ${pqTool} is missing (build the pq_tool target)`); process.exit(1); }
function check(ok, what) {
  if (ok) passed++;
  else { failed++; console.error(`FAIL seed=${seed}: ${what}`); }
}
const conn = await (await DuckDBInstance.create(":memory:", { threads: "1" })).connect();
const lit = (s) => `'${s.replaceAll("'", "''")}'`;
const words = ["a", "b c", "", "null", "NULL", "x,y", "it's", "{q}", " lead", "trail ", "é", "a\\b",
               'q"x', "k=v", "[1]", "x:y", "(p)", "line\nbreak"];
const wordList = `[${words.map(lit).join(", ")}]`;
const nul = (p, e) => `CASE WHEN random() < ${p} THEN NULL ELSE ${e} END`;
const gen = (n) => `
SELECT i AS id,
  ${nul(0.1, `list_transform(range((random() * 6)::INT), x -> ${nul(0.15, "(random() * 2000 - 1000)::INT")})`)} AS l,
  ${nul(0.1, `list_transform(range((random() * 4)::INT), x -> ${nul(0.1, `${wordList}[(random() * ${words.length - 1})::INT + 1]`)})`)} AS ls,
  ${nul(0.1, `{'a': ${nul(0.2, "(random() * 100)::INT")}, 'b': ${nul(0.2, "'v' || (random() * 50)::INT")},
              'c': random(), 'd': {'e': ${nul(0.3, "[1, 2]")}}}`)} AS s,
  ${nul(0.1, `map_from_entries(list_transform(range((random() * 4)::INT), x -> {'k': 'k' || x, 'v': ${nul(0.2, "(random() * 10)::INT")}}))`)} AS m,
  ${nul(0.1, `list_transform(range((random() * 3)::INT), x -> ${nul(0.2, "list_transform(range((random() * 3)::INT), y -> (random() * 9)::BIGINT)")})`)} AS ll,
  ${nul(0.1, `list_transform(range((random() * 3)::INT), x -> ${nul(0.1, `{'x': (random() * 9)::SMALLINT, 'y': [random() < 0.5],
              'z': DATE '2020-01-01' + (random() * 1000)::INT, 'w': (random() * 1000)::DECIMAL(9, 2)}`)})`)} AS lst,
  ${nul(0.1, "[random(), random() * 1e20, random() * 1e-7, (random() * 100)::INT::DOUBLE]")} AS dd,
  ${nul(0.5, "{'t': TIMESTAMP '2020-01-01' + to_microseconds((random() * 1e12)::BIGINT), 'f': random()::FLOAT}")} AS st,
  ${nul(0.2, `map_from_entries(list_transform(range((random() * 3)::INT), x -> {'k': x, 'v': [${nul(0.3, "'w' || x")}]}))`)} AS mi,
  NULL::INT[] AS ln, NULL::STRUCT(a INT, b VARCHAR[]) AS sn, NULL::MAP(VARCHAR, INT) AS mn,
  ${nul(0.3, `list_transform(range((random() * 3)::INT), x -> ${nul(0.3, `map_from_entries(list_transform(range((random() * 2)::INT), y -> {'k': 'q' || y, 'v': ${nul(0.3, `{'p': ${nul(0.3, "[x, y]")}}`)}}))`)})`)} AS lm
FROM range(${n}) t(i)`;
const allCols = "id,l,ls,s,m,ll,lst,dd,st,mi,ln,sn,mn,lm";
const wcodecs = ["snappy", "zstd", "gzip", "lz4_raw", "none"];
// CSV files a and b equal line by line; counts the lines in wlines.
function sameCsv(a, b, what) {
  const c = compareCsvLines(a, b);
  check(c.lines[0] === c.lines[1], `${what}: ${c.lines[0]} lines, expected ${c.lines[1]}`);
  wlines += c.equal;
  for (const x of c.diffs) check(false, `${what} line ${x.line}:\n  got:      ${x.ours}\n  expected: ${x.theirs}`);
  if (!c.diffs.length) passed++;
  return !c.diffs.length;
}

// codec, page version, rows, row group size
const files = [
  ["snappy", "V1", 20000, 4096], ["zstd", "V2", 20000, 6000], ["uncompressed", "V1", 1, 4096],
  ["gzip", "V2", 3000, 1000], ["brotli", "V1", 3000, 2048], ["lz4", "V2", 3000, 1024],
  ["snappy", "V2", 0, 1024],
];
const manifest = [];
let k = 0;
for (const [codec, version, n, rg] of files) {
  const name = `${codec}_${version}_${n}`;
  const file = `${dir}/${name}.parquet`;
  await conn.run(`SELECT setseed(${seed})`);
  await conn.run(`CREATE OR REPLACE TABLE t AS ${gen(n)}`);
  await conn.run(`COPY t TO '${file}' (FORMAT PARQUET, COMPRESSION ${codec}, PARQUET_VERSION ${version}, ROW_GROUP_SIZE ${rg})`);
  await conn.run(`COPY (SELECT * FROM read_parquet('${file}')) TO '${dir}/${name}.duck.csv' (HEADER)`);
  await conn.run(`COPY (SELECT * FROM read_parquet('${file}')) TO '${dir}/${name}.duck.json' (FORMAT JSON)`);
  const store = `${dir}/store${k++}`;
  const put = spawnSync(cli, ["--dir", store, "put", "--key", name, file], { encoding: "utf8" });
  check(put.status === 0, `${name}: put exits ${put.status}: ${put.stderr.trim()}`);
  if (put.status !== 0) continue;
  manifest.push({ name, store, key: name, json: `${dir}/${name}.duck.json`, rows: n });
  const compare = (cols, sql, tag) => {
    const ours = `${dir}/${name}.${tag}.csv`, theirs = `${dir}/${name}.${tag}.duck.csv`;
    const args = ["--dir", store, "get", name, "-o", ours];
    if (cols) args.push("--columns", cols);
    const g = spawnSync(cli, args, { encoding: "utf8" });
    check(g.status === 0, `${name} ${tag}: get exits ${g.status}: ${g.stderr.trim()}`);
    return conn.run(`COPY (${sql}) TO '${theirs}' (HEADER)`).then(() => {
      const c = compareCsvLines(ours, theirs);
      check(c.lines[0] === c.lines[1], `${name} ${tag}: ${c.lines[0]} lines, DuckDB ${c.lines[1]}`);
      lines += c.equal;
      for (const x of c.diffs) check(false, `${name} ${tag} line ${x.line}:\n  ours:   ${x.ours}\n  DuckDB: ${x.theirs}`);
      if (!c.diffs.length) passed++;
    });
  };
  await compare(null, `SELECT * FROM read_parquet('${file}')`, "all");
  // Our writer: every codec; default sizes, then small pages and row groups.
  const theirs = `${dir}/${name}.all.duck.csv`;
  for (const [wi, small] of [[k, false], [k + 2, true]]) {
    const codec = wcodecs[wi % wcodecs.length];
    const ours = `${dir}/${name}.w${small ? "small" : ""}.${codec}.parquet`;
    const env = { ...process.env };
    if (small) Object.assign(env, { BLOBSTORE_PARQUET_ROW_GROUP_ROWS: "333", BLOBSTORE_PARQUET_PAGE_ROWS: "7",
                                    BLOBSTORE_PARQUET_PAGE_BYTES: "300" });
    const rw = spawnSync(pqTool, ["rewrite", file, ours, codec], { encoding: "utf8", env });
    check(rw.status === 0, `${name}: our writer (${codec}) exits ${rw.status}: ${rw.stderr.trim()}`);
    if (rw.status !== 0) continue;
    wfiles++;
    await conn.run(`COPY (SELECT * FROM read_parquet('${ours}')) TO '${ours}.duck.csv' (HEADER)`);
    sameCsv(`${ours}.duck.csv`, theirs, `${name}: DuckDB reading our ${codec}${small ? " small-page" : ""} file`);
    const meta = (await conn.runAndReadAll(`SELECT count(DISTINCT row_group_id)::INT AS g, count(*)::INT AS c,
        min(compression) AS codec FROM parquet_metadata('${ours}')`)).getRowObjects()[0];
    const wantGroups = Math.ceil(n / (small ? 333 : 1000000)); // none for 0 rows
    check(meta.g === wantGroups, `${name}: our file has ${meta.g} row groups, expected ${wantGroups}`);
    check(n === 0 || meta.codec === (codec === "none" ? "UNCOMPRESSED" : codec.toUpperCase()),
          `${name}: our file's codec is ${meta.codec}, expected ${codec}`);
    const st = `${dir}/wstore${k}${small ? "s" : ""}`;
    const p2 = spawnSync(cli, ["--dir", st, "put", "--key", "w", ours], { encoding: "utf8" });
    check(p2.status === 0, `${name}: put of our file exits ${p2.status}: ${p2.stderr.trim()}`);
    const g2 = spawnSync(cli, ["--dir", st, "get", "w", "-o", `${ours}.csv`], { encoding: "utf8" });
    check(g2.status === 0, `${name}: get of our file exits ${g2.status}: ${g2.stderr.trim()}`);
    if (g2.status === 0) sameCsv(`${ours}.csv`, theirs, `${name}: our reader on our ${codec} file`);
  }
  // The CLI's writer: a projection of every column as Parquet.
  const proj = `${dir}/${name}.proj.parquet`;
  const gp = spawnSync(cli, ["--dir", store, "get", name, "--columns", allCols, "-o", proj], { encoding: "utf8" });
  check(gp.status === 0, `${name}: get --columns -o x.parquet exits ${gp.status}: ${gp.stderr.trim()}`);
  if (gp.status === 0) {
    wfiles++;
    await conn.run(`COPY (SELECT * FROM read_parquet('${proj}')) TO '${proj}.duck.csv' (HEADER)`);
    sameCsv(`${proj}.duck.csv`, theirs, `${name}: DuckDB reading get --columns -o x.parquet`);
  }
  await compare("s.d,ll,s.a,m", `SELECT s.d AS "s.d", ll, s.a AS "s.a", m FROM read_parquet('${file}')`, "proj");
  await compare("s.d.e", `SELECT s.d.e AS "s.d.e" FROM read_parquet('${file}')`, "deep");
}
// A dotted path that names no field, and one through a list, are refused
// (exit 1, as a column the table lacks).
const bad = spawnSync(cli, ["--dir", `${dir}/store0`, "get", "snappy_V1_20000", "--columns", "s.zz", "-o", `${dir}/x.csv`], { encoding: "utf8" });
check(bad.status === 1 && bad.stderr.includes('no column "s.zz"'), `s.zz: exit ${bad.status}: ${bad.stderr.trim()}`);
const thru = spawnSync(cli, ["--dir", `${dir}/store0`, "get", "snappy_V1_20000", "--columns", "lst.x", "-o", `${dir}/x.csv`], { encoding: "utf8" });
check(thru.status === 1, `lst.x: exit ${thru.status}: ${thru.stderr.trim()}`);
writeFileSync(`${dir}/manifest.json`, JSON.stringify(manifest));
console.log(`nested: ${lines} CSV lines equal to DuckDB's`);
console.log(`nested: written by blobstore: ${wfiles} files, ${wlines} CSV lines (x ${allCols.split(",").length} columns) equal to DuckDB's CSV of its own file`);
console.log(`nested: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
