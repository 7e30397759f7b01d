#!/bin/sh
# put --csv with inferred types, next to DuckDB (an independent
# implementation, from the npm registry): seeded random CSVs of several
# 2 MiB pieces whose columns change kind (integers, decimals, booleans,
# words, empty cells) at random records, many after the first piece (where
# put --csv guesses the types from), so that the guess is found wrong and
# the file read again, or holds. DuckDB reads the stored file: its column
# types and nullability are what all the cells fit, its rows exactly the
# CSV's as DuckDB reads it with those types. SEED=N reproduces a run.
# Usage: csv_guess.sh PATH-TO-blobstore. Fails loudly when Node.js is missing.
set -eu
cli=$1
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v node > /dev/null 2>&1 || [ ! -d "$here/interop/node_modules/@duckdb" ]; then
    echo "csv_guess: Node.js or the npm packages are missing: run scripts/install-node-deps.sh" >&2
    exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/pqguess.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$here/interop"
node csv_guess.mjs "$cli" "$work"
