#!/bin/sh
# DECIMAL and TIME columns against DuckDB, value by value (interop/types.mjs).
# Usage: types.sh PATH-TO-blobstore [SEED]. Fails loudly when Node.js is missing.
set -eu
cli=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v node > /dev/null 2>&1 || [ ! -d "$here/interop/node_modules/@duckdb" ]; then
    echo "types: Node.js or the npm packages are missing: run scripts/install-node-deps.sh" >&2
    exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/pqtypes.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$here/interop"
node types.mjs "$cli" "$work" ${2:-}
