#!/bin/sh
# Hand-made files of other writers' codecs and quirks (quirks.py) read by
# blobstore to the generator's rows, which DuckDB (or parquet-wasm) also reads
# from them; encrypted files and bad page CRCs refused (interop/quirks.mjs).
# Usage: quirks.sh PATH-TO-blobstore PYTHON. Fails loudly when Node.js is missing.
set -eu
cli=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v node > /dev/null 2>&1 || [ ! -d "$here/interop/node_modules/@duckdb" ]; then
    echo "quirks: Node.js or the npm packages are missing: run scripts/install-node-deps.sh" >&2
    exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/pqquirks.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$here/interop"
node quirks.mjs "$cli" "$2" "$work"
