// csv_guess.mjs - put --csv's inferred types and values next to DuckDB's
// reading of the same CSV (see csv_guess.sh). Usage: node csv_guess.mjs CLI WORKDIR
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { DuckDBInstance } from "@duckdb/node-api";

const [cli, dir] = process.argv.slice(2);
const seed0 = process.env.SEED ? Number(process.env.SEED) : Date.now() % 2147483647;
console.log(`csv_guess: seed ${seed0} (SEED=${seed0} reproduces)`);
let passed = 0, failed = 0;
function check(ok, what) {
  if (ok) passed++;
  else { failed++; console.error(`FAIL (seed ${seed0}): ${what}`); }
}
function rng(seed) { /* mulberry32 */
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KINDS = ["int", "double", "bool", "word", "empty"];
const instance = await DuckDBInstance.create(":memory:");
const conn = await instance.connect();
for (let round = 0; round < 3; round++) {
  const r = rng(seed0 * 7 + round);
  const pick = (a) => a[Math.floor(r() * a.length)];
  const rows = 60000 + Math.floor(r() * 60000); /* 3-6 MB: 2 to 4 pieces */
  const ncols = 4 + Math.floor(r() * 8);
  const cols = Array.from({ length: ncols }, (_, k) => {
    const w = r();
    return {
      name: `c${k}`, from: pick(KINDS), to: pick(KINDS),
      at: w < 0.15 ? 0 : w < 0.3 ? rows : w < 0.45 ? Math.floor(r() * 100) : Math.floor(r() * rows),
      nulls: r() < 0.3 ? 2 + Math.floor(r() * 3000) : 0, /* an empty cell 1 in that */
      kinds: new Set(),
    };
  });
  const cell = (c, i) => {
    let kind = i < c.at ? c.from : c.to;
    if (c.nulls && Math.floor(r() * c.nulls) === 0) kind = "empty";
    c.kinds.add(kind);
    switch (kind) {
      case "int": return String(BigInt(Math.floor(r() * 2 ** 31) - 2 ** 30) * BigInt(Math.floor(r() * 2 ** 32)) >> BigInt(Math.floor(r() * 40)));
      case "double": return (r() * 10 ** Math.floor(r() * 12) - 5).toPrecision(1 + Math.floor(r() * 17));
      case "bool": return r() < 0.5 ? "true" : "false";
      case "word": return `w${Math.floor(r() * 1000)}`;
      default: return "";
    }
  };
  const lines = [cols.map((c) => c.name).join(",")];
  for (let i = 0; i < rows; i++) lines.push(cols.map((c) => cell(c, i)).join(","));
  const csv = `${dir}/in${round}.csv`;
  writeFileSync(csv, lines.join("\n") + "\n");
  /* the narrowest type all its cells fit: int64, float64, bool, else string */
  for (const c of cols) {
    const k = new Set([...c.kinds].filter((x) => x !== "empty"));
    const only = (...a) => k.size > 0 && [...k].every((x) => a.includes(x));
    c.duck = only("int") ? "BIGINT" : only("int", "double") ? "DOUBLE" : only("bool") ? "BOOLEAN" : "VARCHAR";
    c.nullable = c.kinds.has("empty");
  }
  const store = `${dir}/store`, out = `${dir}/out${round}.parquet`;
  execFileSync(cli, ["--dir", store, "put", "--key", `t${round}`, "--csv", csv], { stdio: ["ignore", "ignore", "inherit"] });
  execFileSync(cli, ["--dir", store, "get", `t${round}`, "-o", out], { stdio: ["ignore", "ignore", "inherit"] });
  const what = cols.map((c) => `${c.name} ${c.from}->${c.to} at ${c.at}${c.nulls ? " nulls" : ""}: ${c.duck}`).join("; ");
  console.log(`round ${round}: ${rows} rows; ${what}`);
  const desc = await conn.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${out}')`);
  const types = Object.fromEntries(desc.getRows().map((x) => [x[0], x[1]]));
  const rep = await conn.runAndReadAll(`SELECT name, repetition_type FROM parquet_schema('${out}') WHERE num_children IS NULL OR num_children = 0`);
  const reps = Object.fromEntries(rep.getRows().map((x) => [x[0], x[1]]));
  for (const c of cols) {
    check(types[c.name] === c.duck, `round ${round} ${c.name}: type ${types[c.name]}, want ${c.duck}`);
    check(reps[c.name] === (c.nullable ? "OPTIONAL" : "REQUIRED"),
      `round ${round} ${c.name}: ${reps[c.name]}, want ${c.nullable ? "OPTIONAL" : "REQUIRED"}`);
  }
  const spec = cols.map((c) => `'${c.name}': '${c.duck}'`).join(", ");
  const theirs = `SELECT * FROM read_csv('${csv}', header = true, auto_detect = false, columns = {${spec}})`;
  const ours = `SELECT * FROM read_parquet('${out}')`;
  for (const [a, b, name] of [[ours, theirs, "ours not DuckDB's"], [theirs, ours, "DuckDB's not ours"]]) {
    const d = await conn.runAndReadAll(`SELECT count(*) FROM (${a} EXCEPT ALL ${b})`);
    const n = Number(d.getRows()[0][0]);
    check(n === 0, `round ${round}: ${n} rows ${name}`);
  }
  const cnt = await conn.runAndReadAll(`SELECT (SELECT count(*) FROM (${ours})), (SELECT count(*) FROM (${theirs}))`);
  const [a, b] = cnt.getRows()[0].map(Number);
  check(a === rows && b === rows, `round ${round}: ${a} and ${b} rows, want ${rows}`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
