#!/bin/sh
# Tables follow the store's codec: for each store codec, a CSV put through the
# CLI is read back by DuckDB (an independent implementation, from the npm
# registry) from the stored file itself, which must carry the codec that
# `meta` reports and exactly the CSV's rows.
# Usage: store_codecs.sh PATH-TO-blobstore. Fails loudly when Node.js is missing.
set -eu
cli=$1
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v node > /dev/null 2>&1 || [ ! -d "$here/interop/node_modules/@duckdb" ]; then
    echo "store_codecs: Node.js or the npm packages are missing: run scripts/install-node-deps.sh" >&2
    exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/pqcodecs.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$here/interop"
node store_codecs.mjs "$cli" "$work"
