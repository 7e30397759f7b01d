// common.mjs - what several interop scripts share: a seeded generator and
// the line-by-line comparison of two CSV files.
import { readFileSync } from "node:fs";

// A seeded generator (mulberry32): returns rand(), uniform in [0, 1).
export function mulberry32(seed) {
  let state = seed >>> 0;
  return function rand() {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// CSV files ours and theirs line by line: { equal, lines: [ours, theirs]
// counts, diffs: the first three differing lines { line, ours, theirs } }.
export function compareCsvLines(ours, theirs) {
  const a = readFileSync(ours, "utf8").split("\n"), b = readFileSync(theirs, "utf8").split("\n");
  let equal = 0;
  const diffs = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] === b[i]) equal++;
    else if (diffs.length < 3) diffs.push({ line: i + 1, ours: a[i], theirs: b[i] });
  }
  return { equal, lines: [a.length, b.length], diffs };
}
