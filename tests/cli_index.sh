#!/bin/bash
# cli_index.sh - a damaged index is corruption (exit 3, naming the file),
# never an empty or shorter store, and no repair deletes the blobs it lost.
# Usage: cli_index.sh PATH-TO-blobstore. Prints "N passed, N failed".
set -u
BS=${1:-${BLOBSTORE_CLI:-build/blobstore}}
. "$(dirname "$0")/harness.sh"

# ten keys k0..k9, one put each, values large enough to be blobs
make_store() { # DIR BACKEND
    local i
    for i in 0 1 2 3 4 5 6 7 8 9; do
        head -c 6000 /dev/zero | tr '\0' "$i" > "$T/v$i"
        "$BS" --dir "$1" --backend "$2" --durability relaxed put --key "k$i" "$T/v$i" > /dev/null ||
            bad "put k$i into $1"
    done
}
nblobs() { find "$1/blobs" -type f | wc -l; }

# Every read command and verify (with and without --repair) exit 3 naming
# FILE; the blobs stay.
all_corrupt() { # WHAT DIR FILE
    local what=$1 d=$2 file=$3 before
    before=$(nblobs "$d")
    expect 3 "$what: ls" -- "$BS" --dir "$d" ls
    check "$what: ls names $file" 'grep -q "$file" "$T/err"'
    check "$what: ls lists nothing" '[ ! -s "$T/out" ]'
    expect 3 "$what: get k9" -- "$BS" --dir "$d" get k9
    check "$what: get says damaged" 'grep -q "index is damaged" "$T/err"'
    expect 3 "$what: get k0" -- "$BS" --dir "$d" get k0
    expect 3 "$what: exists k9" -- "$BS" --dir "$d" exists k9
    expect 3 "$what: verify" -- "$BS" --dir "$d" verify
    expect 3 "$what: verify --repair" -- "$BS" --dir "$d" verify --repair
    check "$what: verify --repair names $file" 'grep -q "$file" "$T/err"'
    check "$what: no blob deleted" '[ "$(nblobs "$d")" -eq "$before" ]'
    expect 3 "$what: put refused" -- "$BS" --dir "$d" put --key new "$T/v1"
}

# JSON: the issue's attacks
make_store "$T/j" json
expect 0 "json store lists ten" -- "$BS" --dir "$T/j" ls
check "ten keys" '[ "$(wc -l < "$T/out")" -eq 10 ]'
J="$T/j/cache_metadata.json.journal"
cp -a "$T/j" "$T/j0"

truncate -s $(($(stat -c %s "$J") / 2)) "$J"
all_corrupt "journal cut in half" "$T/j" cache_metadata.json.journal

rm -rf "$T/j" && cp -a "$T/j0" "$T/j"
# cut at a record boundary: after the last line but two
lines=$(wc -l < "$J")
head -n $((lines - 2)) "$J" > "$T/cut" && cat "$T/cut" > "$J"
all_corrupt "journal cut at a record boundary" "$T/j" cache_metadata.json.journal

rm -rf "$T/j" && cp -a "$T/j0" "$T/j"
sed -i '0,/"e":/s//"g":/' "$J"
all_corrupt "journal \"e\": made \"g\":" "$T/j" cache_metadata.json.journal

rm -rf "$T/j" && cp -a "$T/j0" "$T/j"
: > "$J"
all_corrupt "journal emptied" "$T/j" cache_metadata.json.journal

rm -rf "$T/j" && cp -a "$T/j0" "$T/j"
rm "$T/j/cache_metadata.json"
all_corrupt "snapshot deleted" "$T/j" cache_metadata.json

rm -rf "$T/j" && cp -a "$T/j0" "$T/j"
rm "$T/j/cache_metadata.json" "$J"
all_corrupt "index deleted" "$T/j" cache_metadata.json

# SQLite
make_store "$T/q" sqlite
cp -a "$T/q" "$T/q0"
D="$T/q/cache_metadata.db"
truncate -s $(($(stat -c %s "$D") / 2)) "$D"
all_corrupt "sqlite cut in half" "$T/q" cache_metadata.db

rm -rf "$T/q" && cp -a "$T/q0" "$T/q"
rm "$D"
all_corrupt "sqlite index deleted" "$T/q" cache_metadata.db

rm -rf "$T/q" && cp -a "$T/q0" "$T/q"
head -c 4096 /dev/urandom | dd of="$D" bs=1 seek=0 conv=notrunc 2> /dev/null
all_corrupt "sqlite header overwritten" "$T/q" cache_metadata.db

# A row changed inside the database (one byte of k7's metadata, through the
# sqlite3 library itself): its checksum fails; damage, never "no entry". A
# get reads and checks only the fields it decodes the value by (getsum,
# schema 4): k7's value still reads; k5's size changed is damage to a get.
rm -rf "$T/q" && cp -a "$T/q0" "$T/q"
"$BS" --dir "$T/q" update-meta k7 '{"i": 7}' > /dev/null || bad "update-meta k7"
/usr/bin/python3 - "$D" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
(m,) = db.execute("SELECT metadata FROM entries WHERE key = 'k7'").fetchone()
assert "7" in m, m
db.execute("UPDATE entries SET metadata = ? WHERE key = 'k7'", (m.replace("7", "6", 1),))
assert db.execute("UPDATE entries SET size = size + 1 WHERE key = 'k5'").rowcount == 1
db.commit()
PY
before=$(nblobs "$T/q")
expect 0 "sqlite row changed: get k7 (its metadata)" -- "$BS" --dir "$T/q" get k7 -o "$T/got"
check "bytes of k7 with its metadata changed" 'cmp -s "$T/got" "$T/v7"'
expect 3 "sqlite row changed: get k5 (its size)" -- "$BS" --dir "$T/q" get k5
check "get k5 names the file and the key" 'grep -q "cache_metadata.db" "$T/err" && grep -q "k5" "$T/err" && grep -q checksum "$T/err"'
check "get k5 is not 'no entry'" '! grep -q "no entry" "$T/err"'
expect 3 "sqlite row changed: meta k7" -- "$BS" --dir "$T/q" meta k7
expect 0 "sqlite row changed: get k6 still reads" -- "$BS" --dir "$T/q" get k6 -o "$T/got"
check "bytes of k6" 'cmp -s "$T/got" "$T/v6"'
expect 3 "sqlite row changed: ls" -- "$BS" --dir "$T/q" ls
expect 3 "sqlite row changed: verify" -- "$BS" --dir "$T/q" verify
check "verify names the file and the key" 'grep -q "cache_metadata.db" "$T/err" && grep -q "k7" "$T/err"'
expect 3 "sqlite row changed: verify --repair" -- "$BS" --dir "$T/q" verify --repair
check "sqlite row changed: no blob deleted" '[ "$(nblobs "$T/q")" -eq "$before" ]'
expect 0 "sqlite row changed: verify --rebuild-index" -- "$BS" --dir "$T/q" verify --rebuild-index
check "damaged database kept aside" 'ls "$T/q"/cache_metadata.db.damaged-* > /dev/null 2>&1'
expect 0 "sqlite row changed: get k7 after the rebuild" -- "$BS" --dir "$T/q" get k7 -o "$T/got"
check "bytes of k7" 'cmp -s "$T/got" "$T/v7"'
expect 0 "sqlite row changed: get k5 after the rebuild" -- "$BS" --dir "$T/q" get k5 -o "$T/got"
check "bytes of k5" 'cmp -s "$T/got" "$T/v5"'
expect 0 "sqlite row changed: verify clean after the rebuild" -- "$BS" --dir "$T/q" verify

# verify --rebuild-index: every key back with its bytes and metadata, from the
# records the blobs carry (an array stored as it is: from its sidecar)
rebuild_case() { # BACKEND
    local d="$T/rb-$1" i
    for i in 0 1 2 3 4 5 6 7 8 9; do
        "$BS" --dir "$d" --backend "$1" put --key "k$i" --meta "{\"i\": $i}" "$T/v$i" > /dev/null ||
            bad "rebuild $1: put k$i"
    done
    "$BS" --dir "$d" put --key arr "$ARR" > /dev/null || bad "rebuild $1: put arr"
    "$BS" --dir "$d" ls > "$T/ls-before"
    for k in k0 k9 arr; do "$BS" --dir "$d" meta "$k" > "$T/meta-$k"; done
    rm -f "$d"/cache_metadata.*
    expect 3 "rebuild $1: index deleted is corruption" -- "$BS" --dir "$d" ls
    expect 0 "rebuild $1: verify --rebuild-index" -- "$BS" --dir "$d" verify --rebuild-index
    check "rebuild $1: eleven restored" 'grep -q "11 entries restored" "$T/out"'
    expect 0 "rebuild $1: ls" -- "$BS" --dir "$d" ls
    check "rebuild $1: same keys" 'cmp -s "$T/out" "$T/ls-before"'
    for i in 0 5 9; do
        expect 0 "rebuild $1: get k$i" -- "$BS" --dir "$d" get "k$i" -o "$T/got"
        check "rebuild $1: bytes of k$i" 'cmp -s "$T/got" "$T/v$i"'
    done
    for k in k0 k9 arr; do
        expect 0 "rebuild $1: meta $k" -- "$BS" --dir "$d" meta "$k"
        check "rebuild $1: metadata of $k" 'cmp -s "$T/out" "$T/meta-$k"'
    done
    expect 0 "rebuild $1: verify clean" -- "$BS" --dir "$d" verify
    expect 2 "rebuild $1: with --repair is a usage error" -- "$BS" --dir "$d" verify --repair --rebuild-index
}
ARR="$(dirname "$0")/b2nd/reference/$(ls "$(dirname "$0")/b2nd/reference" | grep '\.b2nd$' | head -n 1)"
rebuild_case json
rebuild_case sqlite

# A damaged journal is set aside (kept), never deleted, by the rebuild.
rm -rf "$T/j" && cp -a "$T/j0" "$T/j"
sed -i '0,/"e":/s//"g":/' "$J"
expect 0 "rebuild a damaged journal" -- "$BS" --dir "$T/j" verify --rebuild-index
check "damaged journal kept aside" 'ls "$T/j"/cache_metadata.json.journal.damaged-* > /dev/null 2>&1'
expect 0 "rebuilt store lists ten" -- "$BS" --dir "$T/j" ls
check "ten keys after the rebuild" '[ "$(wc -l < "$T/out")" -eq 10 ]'

# A migrated store can be rebuilt too: migrate writes the sidecars of files
# stored as they are.
"$BS" --dir "$T/rb-json" migrate --to-dir "$T/mig" --to-backend sqlite > /dev/null ||
    bad "migrate for the rebuild"
rm -f "$T/mig"/cache_metadata.*
expect 0 "rebuild a migrated store" -- "$BS" --dir "$T/mig" verify --rebuild-index
check "migrated: eleven restored" 'grep -q "11 entries restored" "$T/out"'
expect 0 "migrated: meta arr" -- "$BS" --dir "$T/mig" meta arr
check "migrated: array is a file" 'grep -q "\"storage\":\"file\"" "$T/out"'

# Lost commits (an older copy of the index put back; SQLite: the database
# without its -wal): verify names the blobs whose keys the index lacks as
# "unindexed", --repair keeps them, the rebuild brings each key back.
lost_case() { # BACKEND
    local d="$T/lost-$1" i f
    for i in 0 1 2 3 4; do
        "$BS" --dir "$d" --backend "$1" put --key "k$i" "$T/v$i" > /dev/null || bad "lost $1: put k$i"
    done
    mkdir -p "$T/lost-saved-$1"
    for f in "$d"/cache_metadata.*; do cp -a "$f" "$T/lost-saved-$1/"; done
    for i in 5 6 7 8 9; do
        "$BS" --dir "$d" put --key "k$i" "$T/v$i" > /dev/null || bad "lost $1: put k$i"
    done
    rm -f "$d"/cache_metadata.*
    cp -a "$T/lost-saved-$1"/* "$d/"
    rm -f "$d/cache_metadata.db-wal" "$d/cache_metadata.db-shm"
    local before
    before=$(nblobs "$d")
    expect 0 "lost $1: ls shows the five kept" -- "$BS" --dir "$d" ls
    expect 3 "lost $1: verify" -- "$BS" --dir "$d" verify
    check "lost $1: five unindexed blobs named with their keys" '[ "$(grep -c "^unindexed k[5-9] " "$T/out")" -eq 5 ]'
    check "lost $1: summary line" 'grep -q "^5 unindexed blobs" "$T/out"'
    expect 3 "lost $1: verify --repair" -- "$BS" --dir "$d" verify --repair
    check "lost $1: --repair removed none" '! grep -q "removed" "$T/out" && [ "$(nblobs "$d")" -eq "$before" ]'
    expect 0 "lost $1: verify --rebuild-index" -- "$BS" --dir "$d" verify --rebuild-index
    check "lost $1: five restored" 'grep -q "5 entries restored" "$T/out"'
    for i in 5 9; do
        expect 0 "lost $1: get k$i" -- "$BS" --dir "$d" get "k$i" -o "$T/got"
        check "lost $1: bytes of k$i" 'cmp -s "$T/got" "$T/v$i"'
    done
    expect 0 "lost $1: verify clean" -- "$BS" --dir "$d" verify
}
lost_case json
lost_case sqlite

# A copy of the very put an entry records (same key, time and content: what an
# in-place migration to another blob backend and back leaves behind) is no
# entry's only copy: an orphan --repair removes, never "unindexed".
for b in json sqlite; do
    d="$T/lost-$b"
    blob=$("$BS" --dir "$d" meta k3 | sed -n 's/.*"blob":"\([^"]*\)".*/\1/p')
    f=$(find "$d/blobs" -name "$blob")
    copy="${f%-*}-0123456789abcdef.blob"
    cp "$f" "$copy"
    expect 3 "copy of a put $b: verify" -- "$BS" --dir "$d" verify
    check "copy of a put $b: an orphan, not unindexed" 'grep -q "^orphan ${copy##*/}" "$T/out" && ! grep -q "^unindexed" "$T/out"'
    expect 0 "copy of a put $b: verify --repair" -- "$BS" --dir "$d" verify --repair
    check "copy of a put $b: the copy removed, the entry's blob kept" '[ ! -e "$copy" ] && [ -e "$f" ]'
    expect 0 "copy of a put $b: get k3" -- "$BS" --dir "$d" get k3 -o "$T/got"
    check "copy of a put $b: bytes of k3" 'cmp -s "$T/got" "$T/v3"'
done

# Keys sharing one content-addressed blob (#13): each has its key record, so
# a rebuild of a deleted index restores every key with its own metadata, a
# deleted key stays deleted, verify names a missing record and --repair
# writes it back; --repair never removes a live key's record.
shared_case() { # BACKEND
    local d="$T/shared-$1" k rec
    for k in a b c; do
        "$BS" --dir "$d" --backend "$1" --content-addressable put --key "$k" \
            --meta "{\"owner\":\"$k\"}" "$T/v1" > /dev/null || bad "shared $1: put $k"
    done
    "$BS" --dir "$d" put --key u --meta '{"owner":"u"}' "$T/v2" > /dev/null || bad "shared $1: put u"
    check "shared $1: one blob for three keys" '[ "$(find "$d/blobs" -type f ! -name "*.ref" | wc -l)" -eq 2 ]'
    rm -f "$d"/cache_metadata.*
    expect 0 "shared $1: rebuild" -- "$BS" --dir "$d" verify --rebuild-index
    check "shared $1: four restored" 'grep -q "4 entries restored" "$T/out"'
    for k in a b c u; do
        expect 0 "shared $1: get $k" -- "$BS" --dir "$d" get "$k" -o "$T/got"
        if [ "$k" = u ]; then
            check "shared $1: bytes of $k" 'cmp -s "$T/got" "$T/v2"'
        else
            check "shared $1: bytes of $k" 'cmp -s "$T/got" "$T/v1"'
        fi
        expect 0 "shared $1: meta $k" -- "$BS" --dir "$d" meta "$k"
        check "shared $1: metadata of $k" 'grep -q "\"owner\":\"$k\"" "$T/out"'
    done
    expect 0 "shared $1: rm a" -- "$BS" --dir "$d" rm a
    rm -f "$d"/cache_metadata.*
    expect 0 "shared $1: rebuild after rm a" -- "$BS" --dir "$d" verify --rebuild-index
    check "shared $1: three restored" 'grep -q "3 entries restored" "$T/out"'
    expect 1 "shared $1: a stays deleted" -- "$BS" --dir "$d" get a
    expect 0 "shared $1: b after rm a" -- "$BS" --dir "$d" get b -o "$T/got"
    check "shared $1: bytes of b after rm a" 'cmp -s "$T/got" "$T/v1"'
    rec=$(find "$d/blobs" -name "$(printf b | sha256sum | cut -c1-32)-*.ref")
    check "shared $1: b has its record" '[ -n "$rec" ] && [ -f "$rec" ]'
    expect 0 "shared $1: verify --repair keeps live records" -- "$BS" --dir "$d" verify --repair
    check "shared $1: three records after --repair" '[ "$(find "$d/blobs" -name "*.ref" | wc -l)" -eq 3 ]'
    rm -f "$rec"
    expect 3 "shared $1: verify names the missing record" -- "$BS" --dir "$d" verify
    check "shared $1: norecord b" 'grep -q "^norecord b " "$T/out" && grep -q "^1 entries without their key record" "$T/out"'
    expect 0 "shared $1: verify --repair writes it" -- "$BS" --dir "$d" verify --repair
    check "shared $1: written" 'grep -q "^norecord b .*\[written\]" "$T/out" && [ -f "$rec" ]'
    expect 0 "shared $1: verify clean" -- "$BS" --dir "$d" verify
}
shared_case json
shared_case sqlite

# A content-addressed store written before key records (tests/stores/ca_frame2:
# a and b share a blob whose frame names a; u alone): it opens and reads;
# verify names a and b (a rebuild would restore a only) as norecord, not u
# (its blob's frame restores it); --repair writes their records, after which
# a rebuild restores all three, and a deleted a stays deleted.
O="$T/old-ca"
cp -a "$(dirname "$0")/stores/ca_frame2" "$O"
head -c 6000 /dev/zero | tr '\0' x > "$T/vx"
head -c 6000 /dev/zero | tr '\0' y > "$T/vy"
expect 0 "old ca store: get b" -- "$BS" --dir "$O" get b -o "$T/got"
check "old ca store: bytes of b" 'cmp -s "$T/got" "$T/vx"'
expect 3 "old ca store: verify" -- "$BS" --dir "$O" verify
check "old ca store: a and b norecord, u not" 'grep -q "^norecord a " "$T/out" && grep -q "^norecord b " "$T/out" && ! grep -q "^norecord u " "$T/out" && grep -q "^2 entries without" "$T/out"'
expect 0 "old ca store: verify --repair" -- "$BS" --dir "$O" verify --repair
check "old ca store: two written" 'grep -q "^2 entries without their key record (a rebuild would lose them), 2 written" "$T/out"'
expect 0 "old ca store: verify clean" -- "$BS" --dir "$O" verify
rm -f "$O"/cache_metadata.*
expect 0 "old ca store: rebuild" -- "$BS" --dir "$O" verify --rebuild-index
check "old ca store: three restored" 'grep -q "3 entries restored" "$T/out"'
for k in a b u; do
    expect 0 "old ca store: meta $k" -- "$BS" --dir "$O" meta "$k"
    check "old ca store: metadata of $k" 'grep -q "\"owner\":\"$k\"" "$T/out"'
done
expect 0 "old ca store: get u" -- "$BS" --dir "$O" get u -o "$T/got"
check "old ca store: bytes of u" 'cmp -s "$T/got" "$T/vy"'
expect 0 "old ca store: rm a" -- "$BS" --dir "$O" rm a
rm -f "$O"/cache_metadata.*
expect 0 "old ca store: rebuild after rm a" -- "$BS" --dir "$O" verify --rebuild-index
expect 1 "old ca store: a stays deleted" -- "$BS" --dir "$O" get a
expect 0 "old ca store: b after rm a" -- "$BS" --dir "$O" get b -o "$T/got"
check "old ca store: bytes of b after rm a" 'cmp -s "$T/got" "$T/vx"'

# Inline values (SQLite index): a store written when their frames carried
# the entry record (tests/stores/sqlite_inline_rec, one, two and empty) still
# reads and verifies (its rows keep their full frames, as the store's schema
# moves from 2 to version 4 at its first writable open, each row given its
# getsum); new inline values are
# compact frames (the row says the rest: 'one' of 16 bytes keeps 26 bytes, a
# full frame 132, 242 with the record), and a
# migration to a store without inline values writes blob files that carry a
# record, so that a rebuild of that store restores keys and metadata.
schema_getsums() { # DB: its schema version and how many rows have a getsum
    /usr/bin/python3 - "$1" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
v = db.execute("SELECT value FROM blobstore_info WHERE name = 'schema_version'").fetchone()[0]
n = db.execute("SELECT count(*) FROM entries WHERE typeof(getsum) = 'integer'").fetchone()[0]
print(v, n)
PY
}
S="$(dirname "$0")/stores/sqlite_inline_rec"
for src in old new; do
    O="$T/inline-$src"
    if [ $src = old ]; then
        cp -a "$S" "$O" && mkdir -p "$O/blobs" "$O/tmp"
    else
        expect 0 "inline new: put one" -- "$BS" --dir "$O" --backend sqlite put --key one --meta '{"owner":"one","n":1}' "$S/one.value"
        expect 0 "inline new: put two" -- "$BS" --dir "$O" put --key two --meta '{"owner":"two"}' "$S/two.value"
        : > "$T/empty"
        expect 0 "inline new: put empty" -- "$BS" --dir "$O" put --key empty "$T/empty"
        expect 0 "inline new: meta one" -- "$BS" --dir "$O" meta one
        check "inline new: compact frame" 'grep -q "\"file_size\": *26[,}]" "$T/out" && grep -q "\"storage\": *\"inline\"" "$T/out"'
    fi
    for k in one two; do
        expect 0 "inline $src: get $k" -- "$BS" --dir "$O" get $k -o "$T/got"
        check "inline $src: bytes of $k" 'cmp -s "$T/got" "$S/$k.value"'
    done
    expect 0 "inline $src: verify" -- "$BS" --dir "$O" verify
    if [ $src = old ]; then # written to (schema 3): the old rows keep their full frames
        expect 0 "inline old: put three" -- "$BS" --dir "$O" put --key three "$S/one.value"
        expect 0 "inline old: meta one" -- "$BS" --dir "$O" meta one
        check "inline old: one keeps its full frame" 'grep -q "\"file_size\": *242[,}]" "$T/out"'
        expect 0 "inline old: meta three" -- "$BS" --dir "$O" meta three
        check "inline old: three is compact" 'grep -q "\"file_size\": *26[,}]" "$T/out"'
        for k in one two three; do
            f=$k; [ $k = three ] && f=one
            expect 0 "inline old: get $k after a put" -- "$BS" --dir "$O" get $k -o "$T/got"
            check "inline old: bytes of $k after a put" 'cmp -s "$T/got" "$S/$f.value"'
        done
        expect 0 "inline old: delete three" -- "$BS" --dir "$O" delete three
        check "inline old: schema 4, every row with its getsum" '[ "$(schema_getsums "$O/cache_metadata.db")" = "4 3" ]'
    fi
    expect 0 "inline $src: migrate to json" -- "$BS" --dir "$O" migrate --to-dir "$O-j" --to-backend json
    expect 0 "inline $src: migrated verify" -- "$BS" --dir "$O-j" verify
    check "inline $src: verify clean" 'grep -q "3 entries checked: 3 ok, 0 corrupt" "$T/out"'
    rm -f "$O-j"/cache_metadata.*
    expect 0 "inline $src: rebuild" -- "$BS" --dir "$O-j" verify --rebuild-index
    check "inline $src: three restored" 'grep -q "3 entries restored" "$T/out"'
    expect 0 "inline $src: meta one after rebuild" -- "$BS" --dir "$O-j" meta one
    check "inline $src: metadata of one" 'grep -q "\"owner\": *\"one\"" "$T/out" && grep -q "\"n\": *1" "$T/out"'
    expect 0 "inline $src: get two after rebuild" -- "$BS" --dir "$O-j" get two -o "$T/got"
    check "inline $src: bytes of two after rebuild" 'cmp -s "$T/got" "$S/two.value"'
    expect 0 "inline $src: exists empty" -- "$BS" --dir "$O-j" exists empty
done

# An intact store still opens and verifies clean.
expect 0 "intact json store verifies" -- "$BS" --dir "$T/j0" verify
expect 0 "intact sqlite store verifies" -- "$BS" --dir "$T/q0" verify

harness_done
