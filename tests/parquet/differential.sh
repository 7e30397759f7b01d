#!/bin/sh
# The differential table suite: tests/parquet/differential.py (generate,
# put, get, check CSV and pandas outputs), then
# tests/parquet/interop/differential.mjs (DuckDB, parquet-wasm and hyparquet
# read every output). Usage: differential.sh PYTHON PYTHONPATH CLI [--soak]
# BLOBSTORE_TABLE_DIFF_SEED=N reproduces a run; KEEP_TMP=1 keeps the work directory.
set -eu
py=$1 pypath=$2 cli=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v node > /dev/null 2>&1 || [ ! -d "$here/interop/node_modules/@duckdb" ]; then
    echo "differential: Node.js or the npm packages are missing: run scripts/install-node-deps.sh" >&2
    exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/pqdiff.XXXXXX")
if [ -z "${KEEP_TMP:-}" ]; then trap 'rm -rf "$work"' EXIT; else echo "differential: keeping $work"; fi
status=0
PYTHONPATH=$pypath "$py" "$here/differential.py" "$cli" "$work" "$@" || status=1
if [ -f "$work/manifest.json" ]; then
    (cd "$here/interop" && node differential.mjs "$work/manifest.json") || status=1
else
    status=1
fi
exit $status
