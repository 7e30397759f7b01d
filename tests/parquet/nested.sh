#!/bin/sh
# Nested Parquet columns (issue 15): DuckDB writes seeded random LIST /
# STRUCT / MAP files (every codec, both page versions, several row groups);
# blobstore's CSV and projections equal DuckDB's CSV export line by line
# (interop/nested.mjs), and every pandas cell equals DuckDB's value
# (nested_check.py). BLOBSTORE_NESTED_SEED=0.NNN reproduces a run.
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
node nested.mjs "$cli" "$work" ${BLOBSTORE_NESTED_SEED:-}
if [ -n "${3:-}" ]; then
    PYTHONPATH=$3 "$2" "$here/nested_check.py" "$work/manifest.json"
fi
