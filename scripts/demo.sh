#!/bin/sh
# make run: an end-to-end demonstration of the main job on a local store.
# Stores files with metadata, lists by prefix and by metadata, reads back,
# checks the bytes, and verifies the store.
set -eu
BS=${1:-build/blobstore}
demo=$(mktemp -d "${TMPDIR:-/tmp}/blobstore-demo.XXXXXX")
trap 'rm -rf "$demo"' EXIT
store="$demo/store"
bs() { "$BS" --dir "$store" --backend sqlite "$@"; }
step() { printf '\n== %s\n' "$*"; }

step "Make some files to store"
mkdir -p "$demo/in"
printf 'fraud detector weights v1\n' > "$demo/in/model_v1.bin"
printf 'fraud detector weights v2 (better)\n' > "$demo/in/model_v2.bin"
seq 1 200000 > "$demo/in/dataset.csv"
head -c 3000000 /dev/urandom > "$demo/in/random.bin"
ls -l "$demo/in"

step "Store them with metadata (a SQLite-indexed store in $store)"
bs put --key model/fraud_v1 --meta '{"accuracy": 0.91, "author": "alice", "deployed": false}' "$demo/in/model_v1.bin"
bs put --key model/fraud_v2 --meta '{"accuracy": 0.95, "author": "alice", "deployed": true}' "$demo/in/model_v2.bin"
bs put --key data/dataset.csv --meta '{"rows": 200000}' "$demo/in/dataset.csv"
key=$(bs put --meta '{"kind": "noise"}' < "$demo/in/random.bin")
echo "random.bin stored under the generated key $key"

step "List everything, by prefix, and by metadata"
bs ls
echo "-- prefix model/:"
bs ls --prefix model/
echo "-- where deployed = true:"
bs ls --where '{"deployed": true}'

step "Metadata without reading the blob"
bs meta model/fraud_v2

step "Mark v1 deployed, then read everything back and compare"
bs update-meta model/fraud_v1 '{"deployed": true, "deployment_env": "production"}'
bs ls --where '{"deployed": true}'
bs get model/fraud_v1 -o "$demo/v1.out" && cmp "$demo/in/model_v1.bin" "$demo/v1.out"
bs get model/fraud_v2 | cmp - "$demo/in/model_v2.bin"
bs get data/dataset.csv -o "$demo/data.out" && cmp "$demo/in/dataset.csv" "$demo/data.out"
bs get "$key" -o "$demo/random.out" && cmp "$demo/in/random.bin" "$demo/random.out"
echo "all four blobs read back byte-identical"

step "Verify every blob against its SHA-256"
bs verify

step "Damage a blob on disk: the store reports it instead of returning bad bytes"
blob=$(find "$store/blobs" -name '*.blob' -size +100k | head -n 1)
v=$(od -An -tu1 -j 5000 -N1 "$blob" | tr -d ' ')
printf "\\$(printf '%03o' $((v ^ 255)))" | dd of="$blob" bs=1 seek=5000 conv=notrunc 2>/dev/null
set +e
bs verify
code=$?
set -e
echo "verify exit code: $code (3 = corruption found)"
[ "$code" -eq 3 ]

echo
echo "demo finished: store, list, read back and verify all worked"
