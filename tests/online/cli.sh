#!/bin/bash
# cli.sh - the blobstore tool on PostgreSQL + S3, and `blobstore migrate`
# from a local store to PostgreSQL + S3 and back. Run by
# tests/online/servers.sh --pg --rgw (which sets BLOBSTORE_PG_URL and the
# S3 settings). Usage: cli.sh PATH-TO-blobstore. Prints "N passed, N failed".
set -u
BS=$1
. "$(dirname "$0")/../harness.sh"

PG=$BLOBSTORE_PG_URL
S3="s3://blobstore-tests/cli-$$?endpoint=$BLOBSTORE_S3_ENDPOINT&orphan_grace=0"
# The remote store's local directory holds only its settings and lock.
R="$T/remote"
r() { "$BS" --dir "$R" "$@"; }

# A local store with bytes, an array, a table, an empty blob, a large blob.
L="$T/local"
l() { "$BS" --dir "$L" "$@"; }
printf 'hello world\n' > "$T/hello.txt"
head -c 12000000 /dev/urandom > "$T/big.bin"
: > "$T/empty"
/usr/bin/python3 - "$T/m.npy" <<'PY'
import struct, sys
hdr = "{'descr': '<f8', 'fortran_order': False, 'shape': (50, 40), }"
hdr += " " * (64 - 10 - len(hdr) - 1) + "\n"
with open(sys.argv[1], "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode())
    f.write(struct.pack("<2000d", *[i * 0.25 for i in range(2000)]))
PY
printf 'name,score\nada,1.5\nbob,2.5\n' > "$T/t.csv"
expect 0 "local put" -- l put --key docs/hello --meta '{"acc": 0.91, "tag": "a"}' "$T/hello.txt"
expect 0 "local put big" -- l put --key big --meta '{"acc": 0.5}' "$T/big.bin"
expect 0 "local put empty" -- l put --key empty "$T/empty"
expect 0 "local put array" -- l put --key arr --meta '{"acc": 0.99}' "$T/m.npy"
expect 0 "local put table" -- l put --key tab --csv "$T/t.csv"
expect 0 "local update-meta" -- l update-meta docs/hello '{"deployed": true}'

# Compare two stores: the same keys, the same bytes, the same metadata (all
# but the blob's name, which each store chooses).
same_stores() {
    local a=$1 b=$2 k
    [ "$("$BS" --dir "$a" ls)" = "$("$BS" --dir "$b" ls)" ] || return 1
    for k in $("$BS" --dir "$a" ls); do
        "$BS" --dir "$a" get "$k" > "$T/ga" || return 1
        "$BS" --dir "$b" get "$k" > "$T/gb" || return 1
        cmp -s "$T/ga" "$T/gb" || return 1
        /usr/bin/python3 - <("$BS" --dir "$a" meta "$k") <("$BS" --dir "$b" meta "$k") <<'PY' || return 1
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for m in (a, b):
    m.pop("blob", None)
    m.pop("storage", None)
sys.exit(0 if a == b else 1)
PY
    done
}

# migrate: local -> PostgreSQL + S3
expect 0 "migrate to PostgreSQL + S3" -- l migrate --to-dir "$R" --to-backend "$PG" --to-blob-backend "$S3"
check "migrate summary" 'grep -q "^5 entries: 5 copied, 0 already there, 0 failed" "$T/out"'
check "remote equals local" 'same_stores "$L" "$R"'
check "remote settings name the servers" 'grep -q "\"backend\": \"postgresql://" "$R/blobstore.json" && grep -q "\"blob_backend\": \"s3://" "$R/blobstore.json"'
check "no blob files in the remote store's directory" '[ -z "$(find "$R" -name "*.blob" -o -name "*.b2nd" -o -name "*.parquet")" ]'
expect 0 "migrate again resumes (nothing to copy)" -- l migrate --to-dir "$R" --to-backend "$PG" --to-blob-backend "$S3"
check "second migrate copied nothing" 'grep -q "^5 entries: 0 copied, 5 already there, 0 failed" "$T/out"'

# The remote store works like a local one.
expect 0 "remote put" -- r put --key docs/new --meta '{"acc": 0.95, "tag": "b"}' "$T/hello.txt"
expect 0 "remote get" -- r get docs/new
check "remote get bytes" 'cmp -s "$T/out" "$T/hello.txt"'
expect 0 "remote get big -o" -- r get big -o "$T/big.out"
check "remote big bytes" 'cmp -s "$T/big.out" "$T/big.bin"'
expect 0 "remote ls --prefix" -- r ls --prefix docs/
check "remote ls --prefix result" '[ "$(cat "$T/out" | tr "\n" " ")" = "docs/hello docs/new " ]'
expect 0 "remote ls --where --order-by" -- r ls --where '{"acc": {"$gt": 0.9}}' --order-by -acc
check "remote query result" '[ "$(cat "$T/out" | tr "\n" " ")" = "arr docs/new docs/hello " ]'
expect 0 "remote ls exact match" -- r ls --where '{"deployed": true}'
check "remote exact match result" '[ "$(cat "$T/out")" = docs/hello ]'
expect 0 "remote slice" -- r get arr --slice 1,0:3
check "remote slice values" '[ "$(cat "$T/out")" = "10 10.25 10.5" ]'
expect 0 "remote columns" -- r get tab --columns score -o "$T/score.csv"
check "remote columns csv" '[ "$(cat "$T/score.csv" | tr "\n" " ")" = "score 1.5 2.5 " ]'
expect 0 "remote meta" -- r meta docs/new
check "remote meta fields" 'grep -q "\"metadata\":{\"acc\":0.95,\"tag\":\"b\"}" "$T/out"'
expect 0 "remote rm" -- r rm docs/new
expect 1 "remote exists after rm" -- r exists docs/new
expect 0 "remote verify" -- r verify
check "remote verify clean" 'grep -q "5 entries checked: 5 ok, 0 corrupt, 0 dangling, 0 orphans, 0 temporary" "$T/out"'
expect 0 "another machine needs only the PostgreSQL URL" -- "$BS" --dir "$T/machine2" --backend "$PG" get docs/hello
check "another machine reads the S3 blob" 'cmp -s "$T/out" "$T/hello.txt"'
expect 2 "another machine with other settings is refused" -- "$BS" --dir "$T/machine3" --backend "$PG" --blob-backend filesystem ls
check "refusal names PostgreSQL" 'grep -q "store in PostgreSQL was created with blob backend s3://" "$T/err"'
expect 2 "remote store refuses other backends" -- "$BS" --dir "$R" --backend sqlite ls
expect 2 "bad s3 URL" -- "$BS" --dir "$T/bad" --blob-backend "s3://x?nope=1" put "$T/hello.txt"
check "bad s3 URL message" 'grep -q "unknown parameter \"nope\"" "$T/err"'

# ... and back: PostgreSQL + S3 -> local SQLite + files.
B="$T/back"
expect 0 "migrate back to local" -- r migrate --to-dir "$B" --to-backend sqlite --to-blob-backend filesystem
check "back summary" 'grep -q "^5 entries: 5 copied" "$T/out"'
check "back equals remote" 'same_stores "$R" "$B"'
check "back equals the original" 'same_stores "$L" "$B"'
expect 0 "back verify" -- "$BS" --dir "$B" verify

# In place (no --to-dir): the store in a directory moves to PostgreSQL + S3,
# and back, keeping its keys, bytes and metadata.
PG2=${PG%/*}/inplace
psql -q "$PG" -c "CREATE DATABASE inplace" > /dev/null 2>&1
M="$T/moving"
m() { "$BS" --dir "$M" "$@"; }
expect 0 "in-place store put" -- m put --key a/1 --meta '{"v": 1}' "$T/hello.txt"
expect 0 "in-place store put big" -- m put --key a/2 "$T/big.bin"
cp -r "$M" "$T/moving-before"
expect 2 "migrate names a backend" -- m migrate
S3M="s3://blobstore-tests/inplace-$$?endpoint=$BLOBSTORE_S3_ENDPOINT&orphan_grace=0"
expect 2 "a bad target leaves nothing behind" -- m migrate --to-backend "$PG2" --to-blob-backend "s3://x?bad=1"
check "nothing half-way after a bad target" '[ ! -e "$M/blobstore.json.migrating" ]'
expect 0 "migrate in place to PostgreSQL + S3" -- m migrate --to-backend "$PG2" --to-blob-backend "$S3M"
check "in-place summary" 'grep -q "^2 entries: 2 copied" "$T/out" && grep -q "now uses postgresql://" "$T/out"'
check "the directory now names PostgreSQL" 'grep -q "\"backend\": \"postgresql://" "$M/blobstore.json"'
check "no settings left half-way" '[ ! -e "$M/blobstore.json.migrating" ]'
expect 0 "the moved store lists" -- m ls
check "the moved store lists its keys" '[ "$(cat "$T/out" | tr "\n" " ")" = "a/1 a/2 " ]'
check "the moved store equals the old one" 'same_stores "$T/moving-before" "$M"'
expect 0 "migrate in place back to SQLite and files" -- m migrate --to-backend sqlite --to-blob-backend filesystem
check "the directory names SQLite again" 'grep -q "\"backend\": \"sqlite\"" "$M/blobstore.json"'
check "moved back equals the original" 'same_stores "$T/moving-before" "$M"'
# ... and back to the JSON index it started with: that index's files, stale
# since the move, are set aside, not adopted.
expect 0 "migrate in place to PostgreSQL + S3 again" -- m migrate --to-backend "$PG2" --to-blob-backend "$S3M"
expect 0 "migrate in place back to JSON and files" -- m migrate --to-backend json --to-blob-backend filesystem
check "the stale JSON index was set aside" 'ls "$M" | grep -q "^cache_metadata.json.journal.old-"'
check "moved back to JSON equals the original" 'same_stores "$T/moving-before" "$M"'
expect 0 "verify after the round trips" -- m verify --repair
expect 0 "verify clean after repair" -- m verify
expect 2 "in place onto its own index" -- m migrate --to-blob-backend "$S3M"
check "the refusal says why" 'grep -q "own json index files" "$T/err"'

# A corrupt source blob is reported and left out; the rest is copied.
blob=$(l meta big | sed -n 's/.*"blob":"\([^"]*\)".*/\1/p')
f=$(find "$L" -name "$blob")
flip "$f" 5000
expect 3 "migrate with a corrupt source blob" -- l migrate --to-dir "$T/partial" --to-backend json
check "corrupt entry named" 'grep -q "^corrupt big" "$T/out"'
check "partial summary" 'grep -q "^5 entries: 4 copied, 0 already there, 1 failed" "$T/out"'
expect 1 "corrupt entry not copied" -- "$BS" --dir "$T/partial" exists big
expect 0 "others copied" -- "$BS" --dir "$T/partial" exists arr

# Retries: a relay in front of the gateway answers 503, 429 and 500, stalls and
# drops the connection before it relays; five failures in a row are retried
# (with backoff) and the sixth attempt goes through. A server that keeps
# failing is reported after six attempts.
proxy_pid=""
proxy() { # proxy NAME ACTIONS: start a relay; its port in $pport
    /usr/bin/python3 "$(dirname "$0")/faultproxy.py" "${BLOBSTORE_S3_ENDPOINT##*:}" "$2" \
        "$T/$1.port" "$T/$1.log" &
    proxy_pid=$!
    for _ in $(seq 100); do [ -s "$T/$1.port" ] && break; sleep 0.05; done
    pport=$(cat "$T/$1.port")
}
trap '[ -n "$proxy_pid" ] && kill $proxy_pid 2>/dev/null; rm -rf "$T"' EXIT
proxy flaky "503,429,500,hang,reset"
S3P="s3://blobstore-tests/retry-$$?endpoint=http://127.0.0.1:$pport&orphan_grace=0&timeout=2"
expect 0 "put through a failing, stalling server" -- "$BS" --dir "$T/flaky" --blob-backend "$S3P" put --key k "$T/hello.txt"
check "every injected failure was met and retried" '[ "$(head -n 6 "$T/flaky.log" | cut -d" " -f2 | tr "\n" " ")" = "503 429 500 hang reset pass " ]'
expect 0 "get through the relay" -- "$BS" --dir "$T/flaky" get k
check "get bytes through the relay" 'cmp -s "$T/out" "$T/hello.txt"'
kill $proxy_pid
proxy down "503,503,503,503,503,503,503,503"
expect 4 "a server that keeps failing" -- "$BS" --dir "$T/down" --blob-backend "s3://blobstore-tests/x?endpoint=http://127.0.0.1:$pport&timeout=2" put "$T/hello.txt"
check "the error says how often it tried" 'grep -q "HTTP 503 (after 6 attempts)" "$T/err"'
kill $proxy_pid
proxy_pid=""

harness_done
