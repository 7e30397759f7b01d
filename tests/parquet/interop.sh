#!/bin/sh
# Parquet interoperability: DuckDB (an independent implementation, from the
# npm registry) reads every file our writer makes, and we read DuckDB's.
# Usage: interop.sh PATH-TO-pq_tool. Fails loudly when Node.js is missing.
set -eu
tool=$1
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v node > /dev/null 2>&1 || [ ! -d "$here/interop/node_modules/@duckdb" ]; then
    echo "interop: Node.js or the npm packages are missing: run scripts/install-node-deps.sh" >&2
    exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/pqinterop.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$tool" write "$work"
cd "$here/interop"
node interop.mjs "$tool" "$work"
