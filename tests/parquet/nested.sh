#!/bin/sh
# Nested Parquet columns (issue 15): DuckDB writes seeded random LIST /
# STRUCT / MAP files (every codec, both page versions, several row groups);
# blobstore's CSV and projections equal DuckDB's CSV export line by line
# (interop/nested.mjs), and every pandas cell equals DuckDB's value
# (nested_check.py). Then our writer: each file written again by blobstore
# (pq_tool, beside the CLI; every codec, small pages and row groups) must
# read in DuckDB to DuckDB's CSV of its own file, cell by cell. Then the same
# from other writers: parquet-wasm (Rust's parquet crate) and hyparquet-writer
# write seeded nested tables (interop/nested_writers.mjs), compared with
# DuckDB's reading of the same files. BLOBSTORE_NESTED_SEED=0.NNN reproduces a
# run (nested.mjs), and BLOBSTORE_NESTED_WRITERS_SEED=N (nested_writers.mjs).
# Usage: nested.sh PATH-TO-blobstore PYTHON PYTHONPATH. Fails loudly when Node.js is missing.
set -eu
cli=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v node > /dev/null 2>&1 || [ ! -d "$here/interop/node_modules/@duckdb" ]; then
    echo "nested: Node.js or the npm packages are missing: run scripts/install-node-deps.sh" >&2
    exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/pqnested.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$here/interop"
status=0
node nested.mjs "$cli" "$work" ${BLOBSTORE_NESTED_SEED:-} || status=1
node nested_writers.mjs "$cli" "$work" ${BLOBSTORE_NESTED_WRITERS_SEED:-} || status=1
if [ -n "${3:-}" ]; then
    PYTHONPATH=$3 "$2" "$here/nested_check.py" "$work/manifest.json" "$work/manifest_writers.json" || status=1
fi
exit $status
