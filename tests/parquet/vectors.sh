#!/bin/sh
# Files written by independent Parquet implementations (DuckDB V1 and V2,
# parquet-wasm, hyparquet-writer), committed with the values they hold
# (checked against those implementations by interop.sh when they were made):
# our reader must return exactly those values. Runs without Node.js.
set -eu
tool=$1
dir=$(cd "$(dirname "$0")/vectors" && pwd)
pass=0
fail=0
for f in "$dir"/*.parquet; do
    want="${f%.parquet}.expected.jsonl"
    if "$tool" dump "$f" | cmp -s - "$want"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL: $(basename "$f")" >&2
    fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -ge 4 ]
