#!/bin/bash
# cli.sh - the blobstore tool: every command, option and exit code.
# Usage: cli.sh PATH-TO-blobstore. Prints "N passed, N failed".
set -u
BS=${1:-${BLOBSTORE_CLI:-build/blobstore}}
. "$(dirname "$0")/harness.sh"

S="$T/store"
b() { "$BS" --dir "$S" "$@"; }
printf 'hello world\n' > "$T/hello.txt"
head -c 5000000 /dev/urandom > "$T/big.bin"
printf 'a\0b\0c' > "$T/nul.bin"

# put / get
expect 0 "put file" -- b put --key greeting --meta '{"lang": "en", "n": 1}' "$T/hello.txt"
check "put prints the key" '[ "$(cat $T/out)" = greeting ]'
expect 0 "get to stdout" -- b get greeting
check "get bytes" 'cmp -s "$T/out" "$T/hello.txt"'
expect 0 "put from stdin" -- sh -c "\"$BS\" --dir \"$S\" put --key big - < \"$T/big.bin\""
expect 0 "get -o" -- b get big -o "$T/big.out"
check "big round trip" 'cmp -s "$T/big.bin" "$T/big.out"'
expect 0 "put binary with NULs" -- b put --key nul "$T/nul.bin"
expect 0 "get binary" -- b get nul -o "$T/nul.out"
check "binary round trip" 'cmp -s "$T/nul.bin" "$T/nul.out"'
expect 0 "auto key" -- b put "$T/hello.txt"
check "auto key is 16 hex" 'grep -Eqx "[0-9a-f]{16}" "$T/out"'
auto=$(cat "$T/out")
# put --no-overwrite: an existing key is refused with exit 5, nothing changes
expect 5 "put --no-overwrite on an existing key" -- b put --no-overwrite --key greeting "$T/nul.bin"
check "it says the key exists" 'grep -q "greeting.*exists" "$T/err"'
expect 0 "the old bytes stay" -- b get greeting
check "old bytes" 'cmp -s "$T/out" "$T/hello.txt"'
expect 0 "put --no-overwrite of a new key" -- b put --no-overwrite --key fresh "$T/nul.bin"
check "new key stored" 'b get fresh | cmp -s - "$T/nul.bin"'
expect 0 "rm it" -- b rm fresh

# get -o writes regular files only: a device, FIFO, directory or symbolic link
# already at the path is refused (exit 2) and left as it was, unless --force
expect 0 "get -o - is stdout" -- b get greeting -o -
check "-o - bytes" 'cmp -s "$T/out" "$T/hello.txt" && [ ! -e ./- ]'
printf 'keep me\n' > "$T/target.txt"
ln -s "$T/target.txt" "$T/link.out"
expect 2 "get -o symlink refused" -- b get greeting -o "$T/link.out"
check "refusal names the kind" 'grep -q "is a symbolic link" "$T/err"'
check "symlink and target untouched" '[ -L "$T/link.out" ] && [ "$(cat "$T/target.txt")" = "keep me" ]'
expect 0 "get -o symlink --force" -- b get greeting -o "$T/link.out" --force
check "--force replaces the link, not its target" '[ ! -L "$T/link.out" ] && cmp -s "$T/link.out" "$T/hello.txt" && [ "$(cat "$T/target.txt")" = "keep me" ]'
mkdir "$T/dir.out"
expect 2 "get -o directory refused" -- b get greeting -o "$T/dir.out"
expect 2 "get -o directory refused with --force" -- b get greeting -o "$T/dir.out" --force
check "directory untouched" '[ -d "$T/dir.out" ] && [ -z "$(ls -A "$T/dir.out")" ]'
mkfifo "$T/fifo.out"
expect 2 "get -o FIFO refused" -- b get greeting -o "$T/fifo.out"
check "FIFO still a FIFO" '[ -p "$T/fifo.out" ]'
cat "$T/fifo.out" > "$T/fifo.read" &
expect 0 "get -o FIFO --force writes into it" -- b get greeting -o "$T/fifo.out" --force
wait
check "FIFO kept, reader got the bytes" '[ -p "$T/fifo.out" ] && cmp -s "$T/fifo.read" "$T/hello.txt"'
check "no temporaries left beside outputs" '! ls "$T"/*.tmp-* > /dev/null 2>&1'
if [ -c /dev/null ] && [ -w /dev/null ]; then
    expect 2 "get -o /dev/null refused" -- b get greeting -o /dev/null
    check "/dev/null still a character device" '[ -c /dev/null ]'
    expect 0 "get -o /dev/null --force" -- b get greeting -o /dev/null --force
    check "/dev/null still a character device after --force" '[ -c /dev/null ]'
fi
printf 'old\n' > "$T/regular.out"
expect 0 "get -o replaces a regular file" -- b get greeting -o "$T/regular.out"
check "regular file replaced" 'cmp -s "$T/regular.out" "$T/hello.txt"'

# meta / update-meta
expect 0 "meta" -- b meta greeting
sha=$(sha256sum "$T/hello.txt" | cut -d" " -f1)
check "meta has content_hash" 'grep -q "\"content_hash\":\"$sha\"" "$T/out"'
check "meta has user metadata" 'grep -q "\"metadata\":{\"lang\":\"en\",\"n\":1}" "$T/out"'
check "meta has size and format" 'grep -q "\"size\":12" "$T/out" && grep -q "\"format\":\"bytes\"" "$T/out"'
check "meta has ISO times" 'grep -Eq "\"created_at\":\"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z\"" "$T/out"'
expect 0 "update-meta" -- b update-meta greeting '{"deployed": true}'
expect 0 "meta after update" -- b meta greeting
check "merged" 'grep -q "\"lang\":\"en\",\"n\":1,\"deployed\":true" "$T/out"'
expect 2 "update-meta bad json" -- b update-meta greeting '{oops'
check "error line prefix" 'head -c 11 "$T/err" | grep -q "^blobstore: "'

# the JSON index: cache_metadata.json is one JSON document holding every entry
# once the command that wrote closed the store (the journal is kept)
check "cache_metadata.json parses and holds every key" '[ "$(/usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(\" \".join(sorted(d[\"entries\"])))" "$S/cache_metadata.json")" = "$(printf "%s\n" big greeting nul $auto | LC_ALL=C sort | tr "\n" " " | sed "s/ $//")" ]'
check "the journal is kept" '[ -s "$S/cache_metadata.json.journal" ]'

# ls
expect 0 "ls" -- b ls
check "ls sorted" '[ "$(cat $T/out | tr "\n" " ")" = "$(printf "%s\n" big greeting nul $auto | LC_ALL=C sort | tr "\n" " ")" ]'
expect 0 "ls prefix" -- b ls --prefix gr
check "ls prefix result" '[ "$(cat $T/out)" = greeting ]'
expect 0 "ls where" -- b ls --where '{"deployed": true}'
check "ls where result" '[ "$(cat $T/out)" = greeting ]'
expect 2 "ls bad filter" -- b ls --where '{"n": {"$bogus": 1}}'
check "bad filter names the part" 'grep -q "\$.n.\$bogus" "$T/err"'

# exists / rm / not found
expect 0 "exists" -- b exists greeting
expect 1 "exists missing" -- b exists nope
expect 1 "get missing" -- b get nope
expect 1 "meta missing" -- b meta nope
expect 1 "update-meta missing" -- b update-meta nope '{}'
expect 1 "rm missing" -- b rm nope
expect 0 "rm" -- b rm nul
expect 1 "rm again" -- b rm nul

# hostile keys stay inside the store
before=$(ls -A "$T" | sort | tr "\n" " ")
for k in '../../escape' 'a/b' '..' ' spaced ' 'ключ/日本'; do
    expect 0 "put key [$k]" -- b put --key "$k" "$T/hello.txt"
    expect 0 "get key [$k]" -- b get -- "$k"
    check "value of [$k]" 'cmp -s "$T/out" "$T/hello.txt"'
done
check "nothing outside the store" '[ "$(ls -A "$T" | sort | tr "\n" " ")" = "$before" ]'
check "no escape file" '[ ! -e "$T/../escape" ] && [ ! -e "$S/../escape" ]'
long=$(head -c 1024 /dev/zero | tr '\0' k)
expect 0 "1024-byte key" -- b put --key "$long" "$T/hello.txt"
expect 2 "1025-byte key" -- b put --key "${long}k" "$T/hello.txt"
expect 2 "invalid UTF-8 key" -- b put --key "$(printf 'bad\377')" "$T/hello.txt"

# keys with control characters: refused at put (exit 2, naming the character);
# ones an older version stored are listed escaped (one line per key), exactly
# with -z and --json, and can be read and deleted
expect 2 "put key with a newline" -- b put --key "$(printf 'two\nlines')" "$T/hello.txt"
check "refusal names the character" 'grep -q "control character 0x0A (newline) at byte 3" "$T/err"'
expect 2 "put key with a tab" -- b put --key "$(printf 'a\tb')" "$T/hello.txt"
expect 2 "put key with DEL" -- b put --key "$(printf 'a\177')" "$T/hello.txt"
expect 2 "put key with ESC" -- b put --key "$(printf '\033[31mred')" "$T/hello.txt"
expect 1 "nothing stored for them" -- b exists "$(printf 'two\nlines')"
SZ="$T/keys"
for k in 'q"uote' 'back\slash' 'sp ace' 'ключ'; do
    "$BS" --dir "$SZ" --backend sqlite put --key "$k" "$T/hello.txt" > /dev/null
done
"$BS" --dir "$SZ" put --key legacyXnl "$T/hello.txt" > /dev/null
"$BS" --dir "$SZ" put --key legacyXctl "$T/hello.txt" > /dev/null
/usr/bin/python3 - "$SZ/cache_metadata.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE entries SET key = 'legacy' || char(10) || 'nl' WHERE key = 'legacyXnl'")
db.execute("UPDATE entries SET key = 'legacy' || char(1, 127) || 'ctl' WHERE key = 'legacyXctl'")
# as an older version left them: schema 1, rows without checksums
db.execute("ALTER TABLE entries DROP COLUMN rowsum")
db.execute("ALTER TABLE entries DROP COLUMN getsum")
db.execute("UPDATE blobstore_info SET value = '1' WHERE name = 'schema_version'")
db.commit()
PY
expect 0 "ls escapes control characters" -- "$BS" --dir "$SZ" ls
check "one line per key, escaped" '[ "$(cat "$T/out")" = "$(printf "%s\n" "back\\slash" "legacy\\x01\\x7fctl" "legacy\\x0anl" "q\"uote" "sp ace" "ключ")" ]'
expect 0 "ls -z" -- "$BS" --dir "$SZ" ls -z
printf 'back\\slash\0legacy\001\177ctl\0legacy\nnl\0q"uote\0sp ace\0ключ\0' > "$T/z.want"
check "ls -z prints keys exactly, NUL-terminated" 'cmp -s "$T/out" "$T/z.want"'
expect 0 "ls --null --prefix" -- "$BS" --dir "$SZ" ls --null --prefix sp
check "ls --null one key" 'cmp -s "$T/out" <(printf "sp ace\\0")'
expect 0 "ls --json" -- "$BS" --dir "$SZ" ls --json
check "ls --json array" '[ "$(cat "$T/out")" = "[\"back\\\\slash\",\"legacy\\u0001\\u007fctl\",\"legacy\\nnl\",\"q\\\"uote\",\"sp ace\",\"ключ\"]" ]'
check "ls --json parses to the keys" '/usr/bin/python3 -c "import json,sys; assert json.load(open(sys.argv[1])) == [\"back\\\\slash\", \"legacy\\x01\\x7fctl\", \"legacy\\nnl\", \"q\\\"uote\", \"sp ace\", \"ключ\"]" "$T/out"'
expect 0 "ls --json --with-meta" -- "$BS" --dir "$SZ" ls --json --with-meta --prefix legacy
check "ls --json --with-meta: array of metadata objects" '/usr/bin/python3 -c "import json,sys; a = json.load(open(sys.argv[1])); assert [o[\"key\"] for o in a] == [\"legacy\\x01\\x7fctl\", \"legacy\\nnl\"] and a[0][\"size\"] == 12" "$T/out"'
expect 0 "ls --json of nothing" -- "$BS" --dir "$SZ" ls --json --prefix nothing
check "empty JSON array" '[ "$(cat "$T/out")" = "[]" ]'
expect 2 "ls -z with --json" -- "$BS" --dir "$SZ" ls -z --json
expect 0 "get a legacy key" -- "$BS" --dir "$SZ" get -- "$(printf 'legacy\nnl')"
check "legacy key bytes" 'cmp -s "$T/out" "$T/hello.txt"'
expect 1 "missing key with a newline: one error line" -- "$BS" --dir "$SZ" get "$(printf 'no\nsuch')"
check "error is one line" '[ "$(wc -l < "$T/err")" -eq 1 ]'
expect 0 "rm a legacy key" -- "$BS" --dir "$SZ" rm "$(printf 'legacy\nnl')"
expect 0 "rm the other legacy key" -- "$BS" --dir "$SZ" rm "$(printf 'legacy\001\177ctl')"
expect 0 "verify after removing them" -- "$BS" --dir "$SZ" verify
expect 0 "ls after removing them" -- "$BS" --dir "$SZ" ls
check "only the others left" '[ "$(cat "$T/out" | tr "\n" " ")" = "back\\slash q\"uote sp ace ключ " ]'

# verify and corruption
expect 0 "verify clean" -- b verify
victim=$(find "$S/blobs" -type f -size +1000k | head -n 1)
flip "$victim" 100000
expect 3 "get corrupt" -- b get big -o "$T/corrupt.out"
check "no output file for corrupt blob" '[ ! -e "$T/corrupt.out" ] && ! ls "$T"/corrupt.out.tmp* >/dev/null 2>&1'
expect 3 "verify finds corruption" -- b verify
check "verify names the key" 'grep -q "^corrupt big" "$T/out"'
b rm big > /dev/null
orphan=ab000000000000000000000000000000-0123456789abcdef.blob # a name the store makes
mkdir -p "$S/blobs/ab" && printf orphan > "$S/blobs/ab/$orphan"
expect 3 "verify finds orphan" -- b verify
expect 0 "verify --repair" -- b verify --repair
check "orphan removed" '[ ! -e "$S/blobs/ab/$orphan" ]'
expect 0 "verify after repair" -- b verify
head -c 32 /dev/urandom > "$S/pickle_secret.key"
chmod 666 "$S/pickle_secret.key"
expect 3 "verify: a pickle key others may write" -- b verify --repair
check "reported as unsafe, naming why" 'grep -q "^unsafe pickle_secret.key: .*mode 0666: others may write it" "$T/out"'
check "unsafe key left in place" '[ -f "$S/pickle_secret.key" ]'
chmod 600 "$S/pickle_secret.key"
expect 0 "verify: a 0600 pickle key is fine" -- b verify
rm "$S/pickle_secret.key"
ln -s /dev/null "$S/pickle_secret.key"
expect 3 "verify: a symlinked pickle key" -- b verify
check "symlinked key reported" 'grep -q "^unsafe pickle_secret.key: .*symbolic link" "$T/out"'
rm "$S/pickle_secret.key"

# clear
expect 0 "clear" -- b clear
check "clear count" '[ "$(cat $T/out)" -ge 8 ]'
expect 0 "ls after clear" -- b ls
check "empty after clear" '[ ! -s "$T/out" ]'

# usage errors and help
expect 2 "no command" -- b
expect 2 "unknown command" -- b frobnicate
check "usage error prefix" 'grep -q "^blobstore: " "$T/err"'
expect 2 "unknown option" -- b --bogus ls
expect 2 "bad level" -- b --level 12 ls
expect 0 "--help" -- "$BS" --help
check "help shows usage" 'grep -q "usage: blobstore" "$T/out"'
for c in put get meta update-meta rm exists ls clear verify create-index migrate; do
    expect 0 "$c --help" -- b "$c" --help
    check "$c help text" 'grep -q "usage: blobstore $c" "$T/out"'
done
expect 0 "--version" -- "$BS" --version
# libcrypto, libblosc and libsnappy are loaded at their first use
# (bs_library, src/internal.h): --version and a get of a small value map
# none of them; a blosclz put maps libblosc and libcrypto (its SHA-256)
LD_DEBUG=files "$BS" --version >/dev/null 2>"$T/ld"
check "--version maps none of the libraries loaded at first use" \
    'grep -q "file=libsqlite3" "$T/ld" && ! grep -q "file=lib\(crypto\|blosc\|snappy\)" "$T/ld"'
SL="$T/lazy"
expect 0 "a small value for the lazy loading" -- "$BS" --dir "$SL" put --key small "$T/hello.txt"
LD_DEBUG=files "$BS" --dir "$SL" get small >"$T/out" 2>"$T/ld"
check "a get of a small value reads it" 'cmp -s "$T/out" "$T/hello.txt"'
check "a get of a small value maps none of them" \
    '! grep -q "file=lib\(crypto\|blosc\|snappy\)" "$T/ld"'
LD_DEBUG=files "$BS" --dir "$SL" put --key z --compression blosclz "$T/hello.txt" >/dev/null 2>"$T/ld"
check "a blosclz put maps libblosc and libcrypto" \
    'grep -q "file=libblosc" "$T/ld" && grep -q "file=libcrypto" "$T/ld"'
expect 0 "the blosclz value reads back" -- "$BS" --dir "$SL" get z
check "blosclz bytes" 'cmp -s "$T/out" "$T/hello.txt"'
# migrate between local backends, with --to-dir and in place (the online
# tests do PostgreSQL and S3)
SM="$T/mig"
expect 0 "migrate source put" -- "$BS" --dir "$SM" put --key m1 --meta '{"a": 1}' "$T/hello.txt"
expect 0 "migrate --to-dir" -- "$BS" --dir "$SM" migrate --to-dir "$T/mig2" --to-backend sqlite
check "migrate --to-dir summary" 'grep -q "^1 entries: 1 copied" "$T/out"'
expect 0 "migrated copy reads" -- "$BS" --dir "$T/mig2" get m1
check "migrated copy bytes" 'cmp -s "$T/out" "$T/hello.txt"'
expect 0 "migrate in place" -- "$BS" --dir "$SM" migrate --to-backend sqlite
check "in place switched" 'grep -q "\"backend\": \"sqlite\"" "$SM/blobstore.json"'
expect 0 "in-place store reads" -- "$BS" --dir "$SM" meta m1
check "in-place metadata kept" 'grep -q "\"metadata\":{\"a\":1}" "$T/out"'
expect 2 "migrate with nothing to change" -- "$BS" --dir "$SM" migrate --to-backend sqlite
expect 2 "migrate needs a target" -- "$BS" --dir "$SM" migrate
expect 2 "migrate to memory" -- "$BS" --dir "$SM" migrate --to-blob-backend memory

# queries: operators, ordering, limits
S5="$T/q"
for i in 1 2 3 4 5; do
    "$BS" --dir "$S5" --backend sqlite put --key "ck_$i" --meta "{\"loss\": 0.$((7 - i))$i, \"deployed\": $([ $i -gt 3 ] && echo true || echo false)}" "$T/hello.txt" > /dev/null
done
expect 0 "create-index" -- "$BS" --dir "$S5" create-index loss
expect 2 "create-index bad path" -- "$BS" --dir "$S5" create-index "a b"
expect 0 "best deployed" -- "$BS" --dir "$S5" ls --where '{"deployed": true}' --order-by loss --limit 1
check "best deployed result" '[ "$(cat $T/out)" = ck_5 ]'
expect 0 "order desc with offset" -- "$BS" --dir "$S5" ls --order-by -loss --offset 1 --limit 2
check "order desc result" '[ "$(cat $T/out | tr "\n" " ")" = "ck_2 ck_3 " ]'
expect 0 "range filter" -- "$BS" --dir "$S5" ls --where '{"loss": {"$gte": 0.3, "$lt": 0.5}}'
check "range result" '[ "$(cat $T/out | tr "\n" " ")" = "ck_3 ck_4 " ]'
expect 0 "with-meta" -- "$BS" --dir "$S5" ls --where '{"@key": "ck_1"}' --with-meta
check "with-meta line" 'grep -q "^{\"key\":\"ck_1\",\"metadata\":{\"loss\":0.61" "$T/out"'
expect 2 "bad --limit" -- "$BS" --dir "$S5" ls --limit -3
expect 2 "bad --order-by" -- "$BS" --dir "$S5" ls --order-by '@nope'

# settings: backends, codecs, content addressing, sharding, env
S2="$T/sq"
expect 0 "sqlite store" -- "$BS" --dir "$S2" --backend sqlite put --key k "$T/hello.txt"
expect 2 "conflicting backend" -- "$BS" --dir "$S2" --backend json ls
check "conflict message" 'grep -q "sqlite" "$T/err"'
expect 0 "reopen with recorded backend" -- "$BS" --dir "$S2" get k
for c in lz4 zstd gzip blosclz none; do
    expect 0 "put $c" -- "$BS" --dir "$S2" --compression "$c" --level 5 put --key "c-$c" "$T/big.bin"
    expect 0 "get $c" -- "$BS" --dir "$S2" get "c-$c" -o "$T/c.out"
    check "$c round trip" 'cmp -s "$T/big.bin" "$T/c.out"'
    expect 0 "meta $c" -- "$BS" --dir "$S2" meta "c-$c"
    check "$c recorded" 'grep -q "\"compression\":\"$c\"" "$T/out"'
done
S3="$T/ca"
expect 0 "ca put" -- "$BS" --dir "$S3" --content-addressable put "$T/big.bin"
k1=$(cat "$T/out")
expect 0 "ca put again" -- "$BS" --dir "$S3" put "$T/big.bin"
check "same key" '[ "$(cat $T/out)" = "$k1" ] && [ "$k1" = "$(sha256sum "$T/big.bin" | cut -d" " -f1)" ]'
# --content-addressable put --key K: stored under K, the content shared
expect 0 "ca put --key" -- "$BS" --dir "$S3" --content-addressable put --key model_v1 "$T/big.bin"
check "the key is kept" '[ "$(cat $T/out)" = model_v1 ]'
expect 0 "ca put --key, a second key" -- "$BS" --dir "$S3" put --key model_v2 "$T/big.bin"
check "one blob file" '[ "$(find "$S3/blobs" -type f ! -name "*.ref" | wc -l)" -eq 1 ]'
check "one blob file for three keys, a key record each" '[ "$(find "$S3/blobs" -type f ! -name "*.ref" | wc -l)" -eq 1 ] && [ "$(find "$S3/blobs" -type f -name "*.ref" | wc -l)" -eq 3 ]'
expect 0 "rm the hash key" -- "$BS" --dir "$S3" rm "$k1"
expect 0 "rm model_v1" -- "$BS" --dir "$S3" rm model_v1
expect 0 "model_v2 still whole" -- "$BS" --dir "$S3" get model_v2 -o "$T/ca2.out"
check "model_v2 bytes" 'cmp -s "$T/ca2.out" "$T/big.bin"'
expect 0 "verify: no problem" -- "$BS" --dir "$S3" verify
expect 0 "rm the last key" -- "$BS" --dir "$S3" rm model_v2
check "its blob is gone" '[ "$(find "$S3/blobs" -type f | wc -l)" -eq 0 ]'
for n in 0 3; do
    S4="$T/shard$n"
    expect 0 "shard $n put" -- "$BS" --dir "$S4" --shard-chars "$n" put --key x "$T/big.bin"
    depth=$(find "$S4/blobs" -type f -printf '%d\n')
    check "shard $n depth" '[ "$depth" -eq $((n == 0 ? 1 : 2)) ]'
done
expect 0 "BLOBSTORE_DIR" -- env BLOBSTORE_DIR="$T/envstore" "$BS" put --key e "$T/hello.txt"
check "env store used" '[ -f "$T/envstore/blobstore.json" ]'
expect 0 "memory store" -- "$BS" --dir "$T/memstore" --blob-backend memory put "$T/hello.txt"
check "memory store wrote nothing" '[ ! -e "$T/memstore" ]'

# arrays: .npy and .b2nd files
SA="$T/arrays"
/usr/bin/python3 - "$T/m.npy" <<'PY'
import struct, sys
hdr = "{'descr': '<i4', 'fortran_order': False, 'shape': (3, 4), }"
hdr += " " * (64 - 10 - len(hdr) - 1) + "\n"
with open(sys.argv[1], "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode())
    f.write(struct.pack("<12i", *range(12)))
PY
expect 0 "put .npy" -- "$BS" --dir "$SA" put --key m --meta '{"unit": "m"}' "$T/m.npy"
expect 0 "meta of an array" -- "$BS" --dir "$SA" meta m
check "array metadata" 'grep -q "\"format\":\"b2nd\"" "$T/out" && grep -q "\"dtype\":\"<i4\"" "$T/out" && grep -q "\"shape\":\[3,4\]" "$T/out"'
check "blob file is a .b2nd" '[ "$(find "$SA/blobs" -name "*.b2nd" | wc -l)" -eq 1 ]'
expect 0 "slice printed" -- "$BS" --dir "$SA" get m --slice 1:3,1:3
check "slice values" '[ "$(cat $T/out | tr "\n" ";")" = "5 6;9 10;" ]'
expect 0 "get -o .npy" -- "$BS" --dir "$SA" get m -o "$T/m2.npy"
check ".npy round trip" 'cmp -s <(tail -c 48 "$T/m.npy") <(tail -c 48 "$T/m2.npy") && head -c 6 "$T/m2.npy" | grep -q NUMPY'
expect 0 "slice to .npy" -- "$BS" --dir "$SA" get m --slice 2,0:2 -o "$T/s.npy"
check "slice .npy data" '[ "$(tail -c 8 "$T/s.npy" | od -An -td4 | tr -s " ")" = " 8 9" ]'
expect 0 "get -o .b2nd" -- "$BS" --dir "$SA" get m -o "$T/m.b2nd"
check ".b2nd magic" 'head -c 10 "$T/m.b2nd" | grep -q b2frame'
expect 5 "put --no-overwrite of a .npy onto an existing key" -- "$BS" --dir "$SA" put --no-overwrite --key m "$T/m.npy"
expect 5 "put --no-overwrite of a .b2nd onto an existing key" -- "$BS" --dir "$SA" put --no-overwrite --key m "$T/m.b2nd"
expect 0 "put --no-overwrite of a .b2nd, new key" -- "$BS" --dir "$SA" put --no-overwrite --key m_b "$T/m.b2nd"
expect 0 "it is an array" -- "$BS" --dir "$SA" meta m_b
check "m_b is b2nd" 'grep -q "\"format\":\"b2nd\"" "$T/out"'
B2REF="$(dirname "$0")/b2nd/reference"
B2DEF="$(dirname "$0")/b2nd/defects"
expect 0 "put reference .b2nd" -- "$BS" --dir "$SA" put --key ref "$B2REF/f64_2d_arange.b2nd"
expect 0 "slice of reference" -- "$BS" --dir "$SA" get ref --slice 1,0:3
check "reference values" '[ "$(cat $T/out)" = "200 201 202" ]'
cp "$T/m.b2nd" "$T/bad.b2nd"
printf 'XXXX' | dd of="$T/bad.b2nd" bs=1 seek=20 conv=notrunc 2>/dev/null
expect 3 "damaged .b2nd refused as corrupt" -- "$BS" --dir "$SA" put --key bad "$T/bad.b2nd"
expect 1 "nothing stored" -- "$BS" --dir "$SA" exists bad
head -c 100 "$T/m.b2nd" > "$T/short.b2nd"
expect 3 "truncated .b2nd refused as corrupt" -- "$BS" --dir "$SA" put --key bad "$T/short.b2nd"
check "it says why" 'grep -qi "trunc\|short\|damaged\|corrupt\|outside\|invalid" "$T/err"'
cp "$T/m.b2nd" "$T/flip.b2nd"
flip "$T/flip.b2nd" 0
expect 3 "bit-flipped .b2nd magic refused as corrupt" -- "$BS" --dir "$SA" put --key bad "$T/flip.b2nd"
expect 1 "nothing stored for them" -- "$BS" --dir "$SA" exists bad
# .b2nd files that c-blosc2 refuses (damaged chunk headers, a frame typesize
# that contradicts the dtype) are corrupt; what it cannot round-trip or what
# is not implemented is unsupported (4); NaN chunks read.
for f in lenient_special_flag_on_normal_chunk lenient_blocksize_2G lenient_blocksize_gt_nbytes \
    frame_typesize_255; do
    expect 3 "$f refused as corrupt" -- "$BS" --dir "$SA" put --key "$f" "$B2DEF/$f.b2nd"
    expect 1 "$f not stored" -- "$BS" --dir "$SA" exists "$f"
done
expect 4 "two DELTA filters refused" -- "$BS" --dir "$SA" put --key dd "$B2DEF/double_delta_d_s_d.b2nd"
check "the pipeline is named" 'grep -q "unsupported filter pipeline" "$T/err"'
expect 4 "instrumented chunks refused" -- "$BS" --dir "$SA" put --key ins "$B2DEF/instrumented_flag.b2nd"
expect 0 "put lenient_orig" -- "$BS" --dir "$SA" put --key orig "$B2DEF/lenient_orig.b2nd"
expect 0 "put NaN chunks" -- "$BS" --dir "$SA" put --key nans "$B2DEF/nans_special_offsets_f8.b2nd"
expect 0 "get NaN chunks" -- "$BS" --dir "$SA" get nans --slice 0:3
check "NaN values" '[ "$(cat $T/out | tr "\n" " ")" = "nan nan nan " ]'
expect 0 "put --raw" -- "$BS" --dir "$SA" put --raw --key rawnpy "$T/m.npy"
expect 0 "raw is bytes" -- "$BS" --dir "$SA" get rawnpy -o "$T/raw.npy"
check "raw bytes identical" 'cmp -s "$T/m.npy" "$T/raw.npy"'
expect 2 "bytes are not an array" -- "$BS" --dir "$SA" get rawnpy --slice 0
expect 2 "slice outside" -- "$BS" --dir "$SA" get m --slice 0:9
expect 2 "slice too many dims" -- "$BS" --dir "$SA" get m --slice 0,0,0

# tables: CSV and Parquet files
ST="$T/tables"
printf 'id,name,score,day\n1,alice,0.5,2024-01-15\n2,"bob, jr",,2024-02-29\n3,carol,2.25,1970-01-01\n' > "$T/t.csv"
expect 0 "put --csv" -- "$BS" --dir "$ST" put --csv --schema day:date --key t --meta '{"src": "csv"}' "$T/t.csv"
expect 0 "meta of a table" -- "$BS" --dir "$ST" meta t
check "table metadata" 'grep -q "\"format\":\"parquet\"" "$T/out" && grep -q "\"num_rows\":3" "$T/out" && grep -q "\"name\":\"day\",\"type\":\"date\"" "$T/out"'
check "blob file is a .parquet" '[ "$(find "$ST/blobs" -name "*.parquet" | wc -l)" -eq 1 ]'
expect 0 "get -o .csv" -- "$BS" --dir "$ST" get t -o "$T/t2.csv"
check "csv round trip" 'cmp -s "$T/t.csv" "$T/t2.csv"'
expect 0 "get --columns" -- "$BS" --dir "$ST" get t --columns score,id
check "projected columns" '[ "$(cat $T/out | tr "\n" ";")" = "score,id;0.5,1;,2;2.25,3;" ]'
expect 0 "get -o .parquet" -- "$BS" --dir "$ST" get t -o "$T/t.parquet"
expect 5 "put --csv --no-overwrite onto an existing key" -- "$BS" --dir "$ST" put --csv --no-overwrite --key t "$T/t.csv"
expect 5 "put .parquet --no-overwrite onto an existing key" -- "$BS" --dir "$ST" put --no-overwrite --key t "$T/t.parquet"
expect 0 "the table is unchanged" -- "$BS" --dir "$ST" meta t
check "same table metadata" 'grep -q "\"src\":\"csv\"" "$T/out"'
check "parquet magic" '[ "$(head -c 4 "$T/t.parquet")" = PAR1 ] && [ "$(tail -c 4 "$T/t.parquet")" = PAR1 ]'
expect 0 "put .parquet" -- "$BS" --dir "$ST" put --key t2 "$T/t.parquet"
expect 0 "get --columns -o .parquet" -- "$BS" --dir "$ST" get t2 --columns name -o "$T/name.parquet"
expect 0 "put projected parquet" -- "$BS" --dir "$ST" put --key t3 "$T/name.parquet"
expect 0 "read it back" -- "$BS" --dir "$ST" get t3 -o "$T/t3.csv"
check "projected parquet values" '[ "$(cat $T/t3.csv | tr "\n" ";")" = "name;alice;\"bob, jr\";carol;" ]'
head -c 200 "$T/t.parquet" > "$T/bad.parquet"
expect 3 "truncated parquet refused as corrupt" -- "$BS" --dir "$ST" put --key bad "$T/bad.parquet"
check "it says why" 'grep -q "PAR1" "$T/err"'
cp "$T/t.parquet" "$T/flip.parquet"
flip "$T/flip.parquet" $(($(stat -c %s "$T/t.parquet") - 1))
expect 3 "bit-flipped parquet magic refused as corrupt" -- "$BS" --dir "$ST" put --key bad "$T/flip.parquet"
cp "$T/t.parquet" "$T/flip.parquet"
flip "$T/flip.parquet" 4
expect 3 "bit-flipped page header refused as corrupt" -- "$BS" --dir "$ST" put --key bad "$T/flip.parquet"
cp "$T/t.parquet" "$T/flip.parquet"
flip "$T/flip.parquet" $(($(stat -c %s "$T/t.parquet") - 6))
expect 3 "bit-flipped footer length refused as corrupt" -- "$BS" --dir "$ST" put --key bad "$T/flip.parquet"
expect 1 "nothing stored for them" -- "$BS" --dir "$ST" exists bad
printf 'a,b\n1\n' > "$T/ragged.csv"
expect 2 "ragged csv refused" -- "$BS" --dir "$ST" put --csv "$T/ragged.csv"
expect 2 "bad schema type" -- "$BS" --dir "$ST" put --csv --schema id:decimal "$T/t.csv"
expect 0 "csv kept as bytes" -- "$BS" --dir "$ST" put --raw --key rawcsv "$T/t.csv"
expect 2 "bytes are not a table" -- "$BS" --dir "$ST" get rawcsv --columns a
expect 1 "unknown column is not found (1), not a usage error" -- "$BS" --dir "$ST" get t --columns nope
D="$(dirname "$0")/parquet/defects"
# a TIME column prints as a time of day (it printed as an integer)
expect 0 "put a TIME column" -- "$BS" --dir "$ST" put --key time "$D/time_col.parquet"
expect 0 "get it as CSV" -- "$BS" --dir "$ST" get time -o "$T/time.csv"
check "times of day" '[ "$(head -5 "$T/time.csv" | tr "\n" ";")" = "t;00:00:00.000000;23:59:59.999999;12:34:56.789002;12:34:56.789003;" ]'
expect 0 "meta of it" -- "$BS" --dir "$ST" meta time
check "its type" 'grep -q "\"type\":\"time\[us\]\"" "$T/out"'
# DECIMAL columns print exactly (1.00 printed as 100)
expect 0 "put DECIMAL columns" -- "$BS" --dir "$ST" put --key dec "$(dirname "$0")/parquet/types/duckdb_decimal_time.parquet"
expect 0 "get them as CSV" -- "$BS" --dir "$ST" get dec --columns d4,d18,d18_0
check "exact decimals" '[ "$(head -3 "$T/out" | tr "\n" ";")" = "d4,d18,d18_0;-5.00,-617283.500000,999999999999999999;-4.63,-487988.532657,-999999999999999999;" ]'
expect 0 "meta of them" -- "$BS" --dir "$ST" meta dec
check "their types" 'grep -q "\"name\":\"d18\",\"type\":\"decimal(18,6)\"" "$T/out"'
# a STRING value that is not UTF-8 makes the file corrupt: refused at put (exit 3), where
# it used to be stored and then raise UnicodeDecodeError in Python
printf 's\nalpha\nbravo\ncharlie\n' > "$T/u.csv"
expect 0 "put a string column" -- "$BS" --dir "$T/plain" --compression none put --csv --key u "$T/u.csv"
expect 0 "as an uncompressed parquet file" -- "$BS" --dir "$T/plain" --compression none get u -o "$T/u.parquet"
/usr/bin/python3 - "$T/u.parquet" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
i = b.index(b"bravo")
b[i + 1] = 0xFF
open(p, "wb").write(bytes(b))
PY
expect 3 "invalid UTF-8 refused as corrupt" -- "$BS" --dir "$ST" put --key badutf "$T/u.parquet"
check "it says so" 'grep -q "UTF-8" "$T/err"'
expect 1 "nothing stored for it" -- "$BS" --dir "$ST" exists badutf
# more than 256 columns named: every one kept (the list used to stop at 256)
expect 0 "put a 500-column file" -- "$BS" --dir "$ST" put --key wide "$D/cols500.parquet"
expect 0 "get all 500 by name" -- "$BS" --dir "$ST" get wide --columns "$(seq -s, -f 'c%g' 499 -1 0)" -o "$T/wide.csv"
check "500 columns, in the order asked" '[ "$(head -1 "$T/wide.csv")" = "$(seq -s, -f 'c%g' 499 -1 0)" ]'
expect 0 "the whole file as CSV" -- "$BS" --dir "$ST" get wide -o "$T/wide_all.csv"
check "same values, reversed" 'diff <(sed "s/,/\n/g;q" "$T/wide_all.csv" | tac | paste -sd,) <(head -1 "$T/wide.csv") > /dev/null'
check "same rows" 'diff <(tail -n +2 "$T/wide_all.csv" | awk -F, "{for(i=NF;i>0;i--) printf \"%s%s\", \$i, (i>1?\",\":\"\n\")}") <(tail -n +2 "$T/wide.csv")'
expect 0 "get 500 names as parquet" -- "$BS" --dir "$ST" get wide --columns "$(seq -s, -f 'c%g' 0 499)" -o "$T/wide.parquet"
expect 0 "put it back" -- "$BS" --dir "$ST" put --key wide2 "$T/wide.parquet"
expect 0 "meta of it" -- "$BS" --dir "$ST" meta wide2
check "500 columns written" '[ "$(grep -o "\"name\":\"c[0-9]*\"" "$T/out" | wc -l)" -eq 500 ]'
expect 1 "501 names, one unknown" -- "$BS" --dir "$ST" get wide --columns "$(seq -s, -f 'c%g' 0 499),c500"
check "the unknown one named" 'grep -q "c500" "$T/err"'

# CLI habits (issue 13)
H="$T/habits"
expect 0 "global options after the command" -- "$BS" put --dir "$H" --key g "$T/hello.txt"
expect 0 "ls --dir DIR" -- "$BS" ls --dir "$H"
check "ls --dir lists the store" '[ "$(cat "$T/out")" = g ]'
expect 0 "--dir=DIR after the command" -- "$BS" ls --dir="$H"
check "same listing" '[ "$(cat "$T/out")" = g ]'
expect 0 "a key that looks like an option stays a key" -- "$BS" --dir "$H" put --key --dir "$T/hello.txt"
expect 0 "get it" -- "$BS" get --dir "$H" -- --dir
check "its bytes" 'cmp -s "$T/out" "$T/hello.txt"'
expect 4 "put of a missing file exits 4" -- "$BS" --dir "$H" put "$T/nosuchfile"
check "with the system's message" 'grep -q "No such file or directory" "$T/err"'
expect 4 "put of a missing .npy exits 4" -- "$BS" --dir "$H" put "$T/nosuch.npy"
expect 2 "--meta twice is refused" -- "$BS" --dir "$H" put --key m2 --meta '{"a":1}' --meta '{"b":2}' "$T/hello.txt"
check "saying why" 'grep -q "given twice" "$T/err"'
expect 1 "nothing stored for it" -- "$BS" --dir "$H" exists m2
expect 2 "--blob-backend memory on a filesystem store is refused" -- "$BS" --dir "$H" --blob-backend memory ls
check "by name" 'grep -q "filesystem" "$T/err" && grep -q "memory" "$T/err"'
expect 0 "delete is rm" -- "$BS" --dir "$H" delete -- --dir
expect 1 "gone" -- "$BS" --dir "$H" exists -- --dir
expect 0 "remove is rm" -- "$BS" --dir "$H" put --key r "$T/hello.txt"
expect 0 "remove" -- "$BS" --dir "$H" remove r
expect 0 "list is ls" -- "$BS" --dir "$H" list
check "list output" '[ "$(cat "$T/out")" = g ]'
expect 0 "cat is get" -- "$BS" --dir "$H" cat g
check "cat bytes" 'cmp -s "$T/out" "$T/hello.txt"'
expect 2 "an unknown command" -- "$BS" --dir "$H" lst
check "did you mean ls" 'grep -q "did you mean \"ls\"" "$T/err"'
expect 2 "a misspelt verify" -- "$BS" --dir "$H" verfiy
check "did you mean verify" 'grep -q "did you mean \"verify\"" "$T/err"'
expect 2 "nothing near" -- "$BS" --dir "$H" xyzzyq
check "no suggestion then" '! grep -q "did you mean" "$T/err"'
cp "$T/m.npy" "$T/conv.npy"
expect 0 "put x.npy converts" -- "$BS" --dir "$H" put --key arr "$T/conv.npy"
check "and says so on stderr" 'grep -q "stored as an array" "$T/err"'
printf 'a,b\n1,2\n' > "$T/data.csv"
expect 0 "put data.csv stores bytes" -- "$BS" --dir "$H" put --key csvbytes "$T/data.csv"
check "and suggests --csv" 'grep -q "put --csv" "$T/err"'
expect 0 "put --csv converts" -- "$BS" --dir "$H" put --csv --key csvtab "$T/data.csv"
check "and says so" 'grep -q "stored as a table" "$T/err"'
expect 0 "put --raw x.npy" -- "$BS" --dir "$H" put --raw --key rawnpy "$T/conv.npy"
check "says nothing" '[ ! -s "$T/err" ]'
expect 2 "--slice abc on a 2-D array" -- "$BS" --dir "$H" get arr --slice abc
check "explains the slice syntax" 'grep -q "START:STOP" "$T/err" && grep -q "0:10,2:5" "$T/err"'
expect 0 "put --help" -- "$BS" put --help
for o in --key --meta --no-overwrite --raw --csv --schema; do
    check "put --help lists $o" 'grep -q -- "$o" "$T/out"'
done
expect 0 "get --help" -- "$BS" get --help
for o in -o --force --slice --columns; do
    check "get --help lists $o" 'grep -q -- "$o" "$T/out"'
done
MAN="$(dirname "$0")/../docs/blobstore.1"
sed 's/\\-/-/g' "$MAN" > "$T/man.txt" # roff's \- as -
for o in no-overwrite csv schema raw slice columns rebuild-index repair prefix where; do
    check "the man page lists --$o" 'grep -q -- "--$o" "$T/man.txt"'
done

# progress on stderr when it is a terminal (script gives a pty): a bar with
# the bytes (put, get) or entries (verify, migrate), the rate and an ETA,
# ending at the total; nothing when stderr is not a terminal.
if command -v script > /dev/null; then
    mkfifo "$T/slow"
    (head -c 3000000 /dev/zero; sleep 1.6; head -c 3000000 /dev/zero) > "$T/slow" &
    script -qec "\"$BS\" --dir \"$T/prog\" put --key slow \"$T/slow\"" /dev/null > "$T/tty.out" 2>&1
    wait
    # a pipe: no size, so no bar; shown after a second by default
    check "progress shown on a terminal" 'grep -q "put .*MiB  .*MiB/s" "$T/tty.out"'
    (head -c 3000000 /dev/zero; sleep 1.2) > "$T/slow" &
    "$BS" --dir "$T/prog" put --key slow2 "$T/slow" > /dev/null 2> "$T/notty.err"
    wait
    check "no progress without a terminal" '[ ! -s "$T/notty.err" ]'
    expect 0 "slow put stored" -- "$BS" --dir "$T/prog" meta slow
    check "slow put size" 'grep -q "\"size\":6000000" "$T/out"'
    # BLOBSTORE_PROGRESS_AFTER=0: drawn at once, so these short commands show it
    tty_run() { # the last state the bar of command $1 drew, into $T/bar
        BLOBSTORE_PROGRESS_AFTER=0 script -qec "$2" /dev/null > "$T/tty.out" 2>&1
        tr '\r' '\n' < "$T/tty.out" | sed 's/\x1b\[K//g' | grep "^$1 " | tail -n 1 > "$T/bar"
    }
    mib=$(awk 'BEGIN { printf "%.1f", 5000000 / 1048576 }') # big.bin, 5,000,000 bytes
    tty_run put "\"$BS\" --dir \"$T/prog\" put --key big \"$T/big.bin\""
    check "put bar reaches the file's size, with rate and ETA" \
        'grep -Eq "^put \[#{20}\] 100% $mib MiB / $mib MiB  [0-9.]+ (B|KiB|MiB|GiB)/s  ETA 0:00$" "$T/bar"'
    check "put bar drawn as it went (at least the first and last state)" \
        '[ "$(tr "\r" "\n" < "$T/tty.out" | grep -c "^put ")" -ge 2 ]'
    tty_run get "\"$BS\" --dir \"$T/prog\" get big -o \"$T/big.tty\""
    check "get bar reaches the entry's size" \
        'grep -Eq "^get \[#{20}\] 100% $mib MiB / $mib MiB  [0-9.]+ (B|KiB|MiB|GiB)/s  ETA 0:00$" "$T/bar" && cmp -s "$T/big.tty" "$T/big.bin"'
    tty_run verify "\"$BS\" --dir \"$T/prog\" verify"
    check "verify bar counts entries to the total" \
        'grep -Eq "^verify \[#{20}\] 100% 3 / 3 entries  [0-9.]+ entries/s  ETA 0:00$" "$T/bar"'
    check "verify still prints its summary" 'grep -q "3 entries checked: 3 ok" "$T/tty.out"'
    tty_run migrate "\"$BS\" --dir \"$T/prog\" migrate --to-dir \"$T/prog2\" --to-backend sqlite"
    check "migrate bar counts entries to the total" \
        'grep -Eq "^migrate \[#{20}\] 100% 3 / 3 entries  [0-9.]+ entries/s  ETA 0:00$" "$T/bar"'
    # not a terminal: nothing on stderr, even at once
    export BLOBSTORE_PROGRESS_AFTER=0
    expect 0 "put, stderr a file" -- "$BS" --dir "$T/prog" put --key big3 "$T/big.bin"
    check "no put progress without a terminal" '[ ! -s "$T/err" ]'
    expect 0 "get, stderr a file" -- "$BS" --dir "$T/prog" get big -o "$T/big.notty"
    check "no get progress without a terminal" '[ ! -s "$T/err" ]'
    expect 0 "verify, stderr a file" -- "$BS" --dir "$T/prog" verify
    check "no verify progress without a terminal" '[ ! -s "$T/err" ]'
    expect 0 "migrate, stderr a file" -- "$BS" --dir "$T/prog" migrate --to-dir "$T/prog3"
    check "no migrate progress without a terminal" '[ ! -s "$T/err" ]'
    check "the man page documents the progress bar" 'grep -q "^\.SH PROGRESS" "$MAN" && grep -q BLOBSTORE_PROGRESS_AFTER "$MAN"'
    expect 0 "--help" -- "$BS" --help
    check "--help documents the progress bar" 'grep -q "^Progress: when standard error is a terminal" "$T/out"'
    unset BLOBSTORE_PROGRESS_AFTER
fi

harness_done
