"""nested_check.py - the pandas side of tests/parquet/nested.sh (issue 15):
every cell of store.get(key) for DuckDB's nested files (interop/nested.mjs
wrote them and manifest.json) must equal DuckDB's own value of it, read from
its JSON export: lists as lists, structs as dicts, maps as lists of (key,
value) tuples (DuckDB's JSON gives a map as an object), nulls as None at
every level; also a dotted-path projection.

Files from parquet-wasm and hyparquet-writer (interop/nested_writers.mjs,
manifest_writers.json) are checked the same way.

Usage: python3 nested_check.py MANIFEST.json...
"""

import datetime
import decimal
import json
import sys

import blobstore
import numpy as np
import pandas as pd


def same(ours, theirs, where):
    if isinstance(ours, np.generic):  # a flat column's numpy scalar
        ours = ours.item()
    if theirs is None:
        return ours is None or (not isinstance(ours, (list, dict, tuple)) and pd.isna(ours)), where
    if isinstance(theirs, dict):
        if isinstance(ours, list) and all(isinstance(e, tuple) and len(e) == 2 for e in ours):
            ours = {str(k): v for k, v in ours}  # a MAP: DuckDB's JSON keys are text
        if not isinstance(ours, dict) or list(ours) != list(theirs):
            return False, where
        for k in theirs:
            ok, w = same(ours[k], theirs[k], f"{where}.{k}")
            if not ok:
                return ok, w
        return True, where
    if isinstance(theirs, list):
        if not isinstance(ours, list) or len(ours) != len(theirs):
            return False, where
        for i, (a, b) in enumerate(zip(ours, theirs)):
            ok, w = same(a, b, f"{where}[{i}]")
            if not ok:
                return ok, w
        return True, where
    if isinstance(theirs, bool):
        return isinstance(ours, bool) and ours == theirs, where
    if isinstance(theirs, int):
        if isinstance(ours, decimal.Decimal):
            return ours == theirs, where
        return isinstance(ours, int) and not isinstance(ours, bool) and ours == theirs, where
    if isinstance(theirs, float):
        if isinstance(ours, decimal.Decimal):
            return float(ours) == theirs, where
        return isinstance(ours, float) and ours == theirs, where
    if isinstance(theirs, str):
        if isinstance(ours, pd.Timestamp):
            return ours == pd.Timestamp(theirs), where
        if isinstance(ours, datetime.date):
            return ours.isoformat() == theirs, where
        return ours == theirs, where
    return False, where


def main(paths):
    manifest = [m for path in paths for m in json.load(open(path))]
    cells = failed = 0
    for m in manifest:
        store = blobstore.BlobStore(m["store"])
        df = store.get(m["key"])
        rows = [json.loads(line) for line in open(m["json"])]
        if len(df) != len(rows) or list(df.columns) != (list(rows[0]) if rows else list(df.columns)):
            print(f"FAIL {m['name']}: {len(df)} rows {list(df.columns)}, DuckDB {len(rows)}")
            failed += 1
            continue
        bad = 0
        for i, row in enumerate(rows):
            for col, theirs in row.items():
                ok, where = same(df[col].iloc[i], theirs, f"{col}")
                cells += 1
                if not ok:
                    bad += 1
                    if bad <= 3:
                        print(f"FAIL {m['name']} row {i} {where}: ours {df[col].iloc[i]!r}, DuckDB {theirs!r}")
        failed += bad
        # A dotted path: the struct's field, null where the struct is null.
        proj = store.get(m["key"], columns=["s.d", "s.a"])
        for i, row in enumerate(rows):
            s = row["s"]
            for field, col in (("d", "s.d"), ("a", "s.a")):
                ok, _ = same(proj[col].iloc[i], None if s is None else s[field], col)
                cells += 1
                if not ok:
                    failed += 1
                    if failed <= 3:
                        print(f"FAIL {m['name']} row {i} {col}: {proj[col].iloc[i]!r}")
    print(f"nested_check: {cells} cells equal to DuckDB's" if not failed else f"nested_check: {failed} cells differ")
    print(f"nested_check: {cells - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
