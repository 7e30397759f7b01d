#!/bin/bash
# cli_stats.sh - blobstore stats: the human report and --json, on JSON and
# SQLite stores, plain and content-addressed, every figure compared with one
# computed by Python from each entry's `meta` (sizes of random files, several
# codecs and formats, an overwrite, a delete, keys sharing content).
# Usage: cli_stats.sh PATH-TO-blobstore. Prints "N passed, N failed".
set -u
BS=${1:-${BLOBSTORE_CLI:-build/blobstore}}
. "$(dirname "$0")/harness.sh"
PY=/usr/bin/python3

# Files of seeded random sizes: half random bytes, half zeros (compressible).
$PY - "$T" <<'PY'
import os, random, sys
r = random.Random(13)
for i in range(8):
    n = r.randrange(1, 20000)
    data = bytes(r.getrandbits(8) for _ in range(n // 2)) + bytes(n - n // 2)
    open(os.path.join(sys.argv[1], "f%d.bin" % i), "wb").write(data)
PY

printf 'a,b\n1,x\n2,y\n3,z\n' > "$T/t.csv"
$PY -c "import numpy, sys; numpy.save(sys.argv[1], numpy.arange(5000.0).reshape(50, 100))" "$T/a.npy" 2> /dev/null

# The expected report: from `meta` of every key, sums by format and codec;
# distinct blobs by name, each at the largest file_size its entries record.
expected() { # DIR -> JSON on stdout
    local d=$1
    "$BS" --dir "$d" ls --with-meta --json > "$T/all.json" || return 1
    $PY - "$T/all.json" <<'PY'
import json, sys
entries = json.load(open(sys.argv[1]))
out = {"entries": len(entries), "stored_bytes": 0, "original_bytes": 0, "inline_entries": 0,
       "formats": {}, "codecs": {}}
blobs, blob_entry_bytes = {}, 0
for e in entries:
    out["stored_bytes"] += e["file_size"]
    out["original_bytes"] += e["size"]
    for part, name in (("formats", e["format"]), ("codecs", e["compression"])):
        g = out[part].setdefault(name, {"entries": 0, "stored_bytes": 0, "original_bytes": 0})
        g["entries"] += 1
        g["stored_bytes"] += e["file_size"]
        g["original_bytes"] += e["size"]
    if e.get("blob"):
        blobs[e["blob"]] = max(blobs.get(e["blob"], 0), e["file_size"])
        blob_entry_bytes += e["file_size"]
    else:
        out["inline_entries"] += 1
out["blobs"] = len(blobs)
out["blob_bytes"] = sum(blobs.values())
out["dedup_saved_bytes"] = blob_entry_bytes - out["blob_bytes"]
print(json.dumps(out, sort_keys=True))
PY
}

# Compare stats --json (index_bytes aside, checked against the files) with
# the expectation; $2: the index files.
compare() { # DIR FILES...
    local d=$1
    shift
    "$BS" --dir "$d" stats --json > "$T/stats.json" 2> "$T/err" || return 1
    expected "$d" > "$T/want.json" || return 1
    local files=0 f
    for f in "$@"; do
        [ -f "$d/$f" ] && files=$((files + $(stat -c %s "$d/$f")))
    done
    $PY - "$T/stats.json" "$T/want.json" "$files" <<'PY'
import json, sys
got = json.load(open(sys.argv[1]))
want = json.load(open(sys.argv[2]))
index = got.pop("index_bytes")
assert index == int(sys.argv[3]) and index > 0, (index, sys.argv[3])
assert got == want, (got, want)
assert list(got["formats"]) == sorted(got["formats"]) and list(got["codecs"]) == sorted(got["codecs"])
PY
}

for backend in json sqlite; do
    if [ $backend = json ]; then
        files="cache_metadata.json cache_metadata.json.journal"
    else
        files="cache_metadata.db cache_metadata.db-wal cache_metadata.db-shm"
    fi
    # plain store: codecs by global option, an array and a table stored as
    # their files, an overwrite and a delete
    S="$T/plain-$backend"
    b() { "$BS" --dir "$S" --backend $backend "$@"; }
    expect 0 "$backend: empty store stats" -- b init
    expect 0 "$backend: stats of an empty store" -- "$BS" --dir "$S" stats --json
    check "$backend: empty: zeros and no groups" '$PY -c "import json,sys; d=json.load(open(sys.argv[1])); assert d[\"entries\"] == 0 and d[\"formats\"] == {} and d[\"codecs\"] == {} and d[\"dedup_saved_bytes\"] == 0" "$T/out"'
    i=0
    for c in lz4 zstd none gzip blosclz lz4; do
        expect 0 "$backend: put f$i with $c" -- b --compression $c put --key "k$i" "$T/f$i.bin"
        i=$((i + 1))
    done
    expect 0 "$backend: overwrite k0" -- b --compression zstd put --key k0 "$T/f6.bin"
    expect 0 "$backend: rm k3" -- b rm k3
    expect 0 "$backend: put --raw" -- b put --raw --key raw "$T/f7.bin"
    expect 0 "$backend: put a CSV file as a table (parquet)" -- b put --csv --key table "$T/t.csv"
    if [ -f "$T/a.npy" ]; then
        expect 0 "$backend: put an array (b2nd)" -- b put --key array "$T/a.npy"
    fi
    check "$backend: stats --json figures = those from meta" 'compare "$S" $files'
    # the human report says the same
    expect 0 "$backend: stats (human)" -- "$BS" --dir "$S" stats
    n=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['entries'])" "$T/stats.json")
    check "$backend: human: entries" 'grep -qx "entries: *$n" "$T/out" && [ $n -ge 7 ]'
    check "$backend: --json: a table is parquet" '$PY -c "import json,sys; assert json.load(open(sys.argv[1]))[\"formats\"][\"parquet\"][\"entries\"] == 1" "$T/stats.json"'
    if [ -f "$T/a.npy" ]; then
        check "$backend: --json: an array is b2nd" '$PY -c "import json,sys; assert json.load(open(sys.argv[1]))[\"formats\"][\"b2nd\"][\"entries\"] == 1" "$T/stats.json"'
    fi
    stored=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['stored_bytes'])" "$T/stats.json")
    check "$backend: human: stored bytes" 'grep -q "^stored: .*($stored bytes)" "$T/out"'
    zstd_n=$($PY -c "import json,sys; g=json.load(open(sys.argv[1]))['codecs']['zstd']; print(g['entries'], g['stored_bytes'], g['original_bytes'])" "$T/stats.json")
    check "$backend: human: the zstd line" 'grep -Eq "^  zstd +$(echo $zstd_n | sed "s/ / +/g")\$" "$T/out"'
    check "$backend: human: both tables" 'grep -q "^by format" "$T/out" && grep -q "^by codec" "$T/out"'
    check "$backend: human: index size" 'grep -q "^index size: .*bytes" "$T/out"'

    # content-addressed store: three keys share one content, two another
    S="$T/ca-$backend"
    expect 0 "$backend: ca init" -- b --content-addressable init
    for k in a bb ccc; do
        expect 0 "$backend: ca put $k" -- b put --key "$k" "$T/f0.bin"
    done
    for k in d eeeeee; do
        expect 0 "$backend: ca put $k" -- b put --key "$k" "$T/f1.bin"
    done
    expect 0 "$backend: ca put without a key" -- b put "$T/f2.bin"
    expect 0 "$backend: ca rm ccc" -- b rm ccc
    check "$backend: ca: stats --json figures = those from meta" 'compare "$S" $files'
    check "$backend: ca: shared blobs save bytes" '$PY -c "import json,sys; d=json.load(open(sys.argv[1])); assert d[\"dedup_saved_bytes\"] > 0 and d[\"blobs\"] + d[\"inline_entries\"] < d[\"entries\"]" "$T/stats.json"'
    expect 0 "$backend: ca stats (human)" -- "$BS" --dir "$S" stats
    check "$backend: ca: human dedup line" 'grep -Eq "^dedup savings: +[1-9]" "$T/out"'
done

# usage: an unknown argument is a usage error; help lists --json; read-only
expect 2 "stats --bogus" -- "$BS" --dir "$T/plain-json" stats --bogus
expect 0 "stats --help" -- "$BS" stats --help
check "stats --help names --json" 'grep -q -- "--json" "$T/out"'
expect 1 "stats of a directory that is not a store" -- "$BS" --dir "$T/nostore" stats
check "nothing created" '[ ! -e "$T/nostore" ]'
chmod -R a-w "$T/plain-sqlite"
if [ "$(id -u)" != 0 ]; then
    expect 0 "stats of a read-only store" -- "$BS" --dir "$T/plain-sqlite" stats
fi
chmod -R u+w "$T/plain-sqlite"

harness_done
