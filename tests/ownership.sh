#!/bin/bash
# ownership.sh - the store owns only what it created (issue 12, attacks 1, 2
# and 7): a directory becomes a store only by an explicit write in a new or
# empty directory; read commands on anything else fail and write nothing;
# the store never follows a symbolic link in its directories nor removes a
# file it did not create; a user who may only read a store can read it.
# Decoy files live OUTSIDE the store and are compared byte for byte.
# Usage: ownership.sh PATH-TO-blobstore. Prints "N passed, N failed".
set -u
BS=${1:-${BLOBSTORE_CLI:-build/blobstore}}
BS=$(cd "$(dirname "$BS")" && pwd)/$(basename "$BS")
. "$(dirname "$0")/harness.sh"
chmod 755 "$T"

# snap DIR: every path, type, size, mode and content hash under DIR
snap() {
    (cd "$1" && find . -printf '%p %y %s %m %l\n' | LC_ALL=C sort &&
        find . -type f -exec sha256sum {} + | LC_ALL=C sort)
}
same() { # same DESCRIPTION DIR SNAPSHOT-FILE
    if snap "$2" | cmp -s - "$3"; then ok; else bad "$1: $2 changed"; fi
}
printf 'hello\n' > "$T/hello.txt"
head -c 20000 /dev/urandom > "$T/big.bin" # not kept inline by SQLite

# ---- 1. ownership: read commands on a directory that is not a store ----
P="$T/project"
mkdir -p "$P/src" "$P/tmp" "$P/blobs/ab"
printf 'int main;\n' > "$P/src/main.c"
printf 'scratch\n' > "$P/tmp/scratch.txt"
printf 'log\n' > "$P/tmp/build.log"
printf 'mine\n' > "$P/blobs/ab/abc.bin"
snap "$P" > "$T/project.snap"
for cmd in "ls" "get k" "meta k" "exists k" "verify"; do
    # shellcheck disable=SC2086
    expect 1 "$cmd on a non-store" -- "$BS" --dir "$P" $cmd
    check "$cmd: exact message" \
        '[ "$(cat "$T/err")" = "blobstore: $P is not a blobstore store (no blobstore.json)" ]'
    same "$cmd writes nothing" "$P" "$T/project.snap"
done
for cmd in "rm k" "clear" "update-meta k {}" "create-index a" "verify --repair" \
    "migrate --to-backend sqlite"; do
    # shellcheck disable=SC2086
    expect 1 "$cmd on a non-store" -- "$BS" --dir "$P" $cmd
    check "$cmd: message" 'grep -q "is not a blobstore store (no blobstore.json)" "$T/err"'
    same "$cmd writes nothing" "$P" "$T/project.snap"
done
for backend in json sqlite; do
    expect 1 "ls --backend $backend on a non-store" -- "$BS" --dir "$P" --backend $backend ls
    same "ls --backend $backend writes nothing" "$P" "$T/project.snap"
done
# a write that would create a store refuses a directory holding other files
expect 2 "put into a non-empty non-store" -- "$BS" --dir "$P" put --key k "$T/hello.txt"
check "put refusal names the directory" 'grep -q "$P is not a blobstore store (no blobstore.json) and not empty" "$T/err"'
same "refused put writes nothing" "$P" "$T/project.snap"
expect 2 "init in a non-empty non-store" -- "$BS" --dir "$P" init
same "refused init writes nothing" "$P" "$T/project.snap"
expect 2 "put --backend sqlite into a non-empty non-store" -- "$BS" --dir "$P" --backend sqlite put "$T/hello.txt"
same "refused sqlite put writes nothing" "$P" "$T/project.snap"

# typos and missing paths: nothing is created
expect 1 "ls on a missing nested path" -- "$BS" --dir "$T/nonexistent/x" ls
check "exact message for a missing path" \
    '[ "$(cat "$T/err")" = "blobstore: $T/nonexistent/x is not a blobstore store (no blobstore.json)" ]'
check "missing path not created" '[ ! -e "$T/nonexistent" ]'
expect 1 "get in a typo'd store" -- "$BS" --dir "$T/typo_store" get k
check "typo'd store not created" '[ ! -e "$T/typo_store" ]'
mkdir "$T/cwd"
expect 1 "ls with the default directory" -- sh -c "cd \"$T/cwd\" && BLOBSTORE_DIR= \"$BS\" ls"
check "default directory named" \
    '[ "$(cat "$T/err")" = "blobstore: .blobstore is not a blobstore store (no blobstore.json)" ]'
check "default directory not created" '[ -z "$(ls -A "$T/cwd")" ]'
printf 'x' > "$T/afile"
expect 1 "ls on a regular file" -- "$BS" --dir "$T/afile" ls
check "the file is unchanged" '[ "$(cat "$T/afile")" = x ]'

# explicit writes create a store in a new or an empty directory
expect 0 "init a new directory" -- "$BS" --dir "$T/new/store" init
check "init says it created" 'grep -q "created a blobstore store in $T/new/store" "$T/out"'
check "init wrote settings" '[ -f "$T/new/store/blobstore.json" ]'
expect 0 "ls on the new store" -- "$BS" --dir "$T/new/store" ls
check "empty listing" '[ ! -s "$T/out" ]'
expect 0 "init again" -- "$BS" --dir "$T/new/store" init
check "init again says so" 'grep -q "is already a blobstore store" "$T/out"'
mkdir "$T/empty"
expect 0 "put into an empty directory" -- "$BS" --dir "$T/empty" put --key k "$T/hello.txt"
expect 0 "get from it" -- "$BS" --dir "$T/empty" get k
check "bytes" 'cmp -s "$T/out" "$T/hello.txt"'
expect 0 "put creates a missing directory" -- "$BS" --dir "$T/made/here" put --key k "$T/hello.txt"
check "store created" '[ -f "$T/made/here/blobstore.json" ]'
expect 0 "put into an existing store" -- "$BS" --dir "$T/empty" put --key k2 "$T/hello.txt"
mkdir "$T/sq"
expect 0 "init --backend sqlite" -- "$BS" --dir "$T/sq" --backend sqlite init
expect 0 "sqlite store usable" -- "$BS" --dir "$T/sq" put --key k "$T/hello.txt"
expect 2 "migrate --to-dir a non-empty non-store" -- "$BS" --dir "$T/empty" migrate --to-dir "$P"
same "refused migrate writes nothing" "$P" "$T/project.snap"
# a creation that failed (a bad URL) leaves only the store's own files: not a refusal later
# (the S3 module checks the URL: in a build without it, the put fails as not installed, exit 4)
want=2
[ -e "$(dirname "$BS")/libblobstore-s3.so" ] || [ -n "${BLOBSTORE_MODULE_DIR:-}" ] || want=4
expect $want "put with a bad s3 URL" -- "$BS" --dir "$T/failed" --blob-backend "s3://x?nope=1" put "$T/hello.txt"
check "no settings recorded" '[ ! -e "$T/failed/blobstore.json" ]'
expect 0 "put after a failed creation" -- "$BS" --dir "$T/failed" put --key k "$T/hello.txt"
expect 0 "migrate --to-dir a new directory" -- "$BS" --dir "$T/empty" migrate --to-dir "$T/copy"
expect 0 "the copy is a store" -- "$BS" --dir "$T/copy" get k2

# ---- 2. never outside, never foreign ----
# decoy: a directory OUTSIDE the store, full of files (one in a subfolder whose
# name begins with the folder's name)
D="$T/decoy"
mkdir -p "$D/ab" "$D/sub"
printf 'precious 1\n' > "$D/w-1-0123456789abcdef"
printf 'precious 2\n' > "$D/notes.txt"
printf 'precious 3\n' > "$D/ab/ab000000000000000000000000000000-0123456789abcdef.blob"
printf 'precious 4\n' > "$D/sub/subfile"
printf 'precious 5\n' > "$D/ab/abc.bin"
snap "$D" > "$T/decoy.snap"
fresh() { # fresh NAME [BACKEND]: a store with two entries
    rm -rf "$T/$1"
    "$BS" --dir "$T/$1" --backend "${2:-json}" put --key one "$T/big.bin" > /dev/null &&
        "$BS" --dir "$T/$1" put --key two "$T/big.bin" > /dev/null
}
for backend in json sqlite; do
    # tmp/ a symbolic link to the decoy
    fresh st "$backend"
    rm -rf "$T/st/tmp" && ln -s "$D" "$T/st/tmp"
    expect 3 "verify with tmp/ a link ($backend)" -- "$BS" --dir "$T/st" verify
    check "tmp link reported ($backend)" 'grep -q "^foreign tmp: " "$T/out"'
    expect 3 "verify --repair with tmp/ a link ($backend)" -- "$BS" --dir "$T/st" verify --repair
    check "nothing reported removed ($backend)" '! grep -q "removed\]" "$T/out"'
    same "decoy untouched by repair through tmp/ ($backend)" "$D" "$T/decoy.snap"
    expect 3 "put refuses a linked tmp/ ($backend)" -- "$BS" --dir "$T/st" put --key three "$T/big.bin"
    check "put names the link" 'grep -q "tmp is a symbolic link" "$T/err"'
    same "decoy untouched by put ($backend)" "$D" "$T/decoy.snap"
    expect 0 "get still works ($backend)" -- "$BS" --dir "$T/st" get one
    check "get bytes ($backend)" 'cmp -s "$T/out" "$T/big.bin"'
    check "the link is still there" '[ -L "$T/st/tmp" ]'

    # blobs/ a symbolic link to the decoy
    fresh sb "$backend"
    rm -rf "$T/sb/blobs" && ln -s "$D" "$T/sb/blobs"
    expect 3 "verify with blobs/ a link ($backend)" -- "$BS" --dir "$T/sb" verify
    check "blobs link reported ($backend)" 'grep -q "^foreign blobs: " "$T/out"'
    check "entries reported corrupt, not dangling" 'grep -q "^corrupt one" "$T/out" && ! grep -q "^dangling" "$T/out"'
    expect 3 "verify --repair with blobs/ a link ($backend)" -- "$BS" --dir "$T/sb" verify --repair
    check "nothing removed through blobs/ ($backend)" '! grep -q "removed\]" "$T/out"'
    same "decoy untouched by repair through blobs/ ($backend)" "$D" "$T/decoy.snap"
    expect 3 "get through a linked blobs/ is corrupt ($backend)" -- "$BS" --dir "$T/sb" get one
    check "get names the link" 'grep -q "blobs is a symbolic link" "$T/err"'
    rm "$T/sb/blobs"
    expect 3 "verify after the link is gone" -- "$BS" --dir "$T/sb" verify
    check "entries kept (dangling, not removed)" 'grep -q "^dangling one" "$T/out"'

    # a shard directory a symbolic link to the decoy
    fresh ss "$backend"
    mv "$T/ss/blobs" "$T/ss/moved" && mkdir "$T/ss/blobs"
    for shard in $(ls "$T/ss/moved") ab; do ln -s "$D" "$T/ss/blobs/$shard"; done
    expect 3 "verify --repair with a linked shard ($backend)" -- "$BS" --dir "$T/ss" verify --repair
    check "shard link reported ($backend)" 'grep -q "^foreign blobs/ab: " "$T/out"'
    check "entries corrupt, not dangling ($backend)" '[ $(grep -c "^corrupt" "$T/out") = 2 ] && ! grep -q "^dangling" "$T/out"'
    same "decoy untouched by repair through a shard ($backend)" "$D" "$T/decoy.snap"
    expect 3 "get through a linked shard ($backend)" -- "$BS" --dir "$T/ss" get one
    expect 3 "get through a linked shard ($backend)" -- "$BS" --dir "$T/ss" get two
done

# foreign files inside the store's own directories survive repair; its own
# leftovers (temporaries, orphans with its names) go
fresh sf
mkdir -p "$T/sf/blobs/ab" "$T/sf/blobs/zz" "$T/sf/blobs/ab/nested"
printf 'scratch\n' > "$T/sf/tmp/scratch.txt"
printf 'log\n' > "$T/sf/tmp/build.log"
printf 'mine\n' > "$T/sf/blobs/ab/abc.bin"
printf 'mine\n' > "$T/sf/blobs/zz/zz000000000000000000000000000000-0123456789abcdef.blob"
printf 'mine\n' > "$T/sf/blobs/ab/cd000000000000000000000000000000-0123456789abcdef.blob"
printf 'mine\n' > "$T/sf/blobs/ab/nested/x"
printf 'mine\n' > "$T/sf/blobs/README"
ln -s "$D/notes.txt" "$T/sf/blobs/ab/ab111111111111111111111111111111-0123456789abcdef.blob"
ln -s "$D/notes.txt" "$T/sf/tmp/w-1-0123456789abcdef"
mkfifo "$T/sf/tmp/w-2-0123456789abcdef"
printf 'left\n' > "$T/sf/tmp/w-3-0123456789abcdef"
printf 'orphan\n' > "$T/sf/blobs/ab/ab222222222222222222222222222222-0123456789abcdef.blob"
snap "$T/sf" | grep -v -e 'w-3-' -e 'ab2222' -e ' \./lock' -e 'cache_metadata' > "$T/sf.snap"
expect 3 "verify --repair with foreign files" -- "$BS" --dir "$T/sf" verify --repair
for f in tmp/scratch.txt tmp/build.log abc.bin blobs/zz blobs/ab/nested blobs/README \
    blobs/ab/cd000000000000000000000000000000-0123456789abcdef.blob \
    blobs/ab/ab111111111111111111111111111111-0123456789abcdef.blob \
    tmp/w-1-0123456789abcdef tmp/w-2-0123456789abcdef; do
    check "foreign $f reported" 'grep -q "^foreign $f: " "$T/out"'
done
check "own temporary removed" '[ ! -e "$T/sf/tmp/w-3-0123456789abcdef" ] && grep -q "^temp w-3-0123456789abcdef: .*\[removed\]" "$T/out"'
check "own orphan removed" '[ ! -e "$T/sf/blobs/ab/ab222222222222222222222222222222-0123456789abcdef.blob" ]'
if snap "$T/sf" | grep -v -e ' \./lock' -e 'cache_metadata' | cmp -s - "$T/sf.snap"; then ok; else bad "foreign files changed by repair"; fi
same "decoy untouched by links in the store" "$D" "$T/decoy.snap"
check "verify counts the foreign files" 'grep -q "^10 foreign files" "$T/out"'
expect 0 "entries intact" -- "$BS" --dir "$T/sf" get two

# the store's own files are never opened through a link
for f in blobstore.json lock cache_metadata.json cache_metadata.json.journal cache_metadata.json.lock; do
    fresh sl
    "$BS" --dir "$T/sl" ls > /dev/null
    [ -e "$T/sl/$f" ] || continue
    mv "$T/sl/$f" "$T/sl/$f.real"
    cp "$T/sl/$f.real" "$D/$f" && snap "$D" > "$T/decoy2.snap"
    ln -s "$D/$f" "$T/sl/$f"
    "$BS" --dir "$T/sl" put --key three "$T/hello.txt" > "$T/out" 2> "$T/err"
    check "put through a linked $f fails" '[ $? -ne 0 ] || true; [ -s "$T/err" ]'
    "$BS" --dir "$T/sl" verify --repair > /dev/null 2>&1
    same "decoy $f untouched" "$D" "$T/decoy2.snap"
    rm -f "$D/$f"
done
fresh sq sqlite
mv "$T/sq/cache_metadata.db" "$D/cache_metadata.db" && snap "$D" > "$T/decoy2.snap"
ln -s "$D/cache_metadata.db" "$T/sq/cache_metadata.db"
expect 4 "sqlite refuses a linked database" -- "$BS" --dir "$T/sq" put --key three "$T/hello.txt"
expect 4 "sqlite refuses a linked database (read-only)" -- "$BS" --dir "$T/sq" ls
same "linked database untouched" "$D" "$T/decoy2.snap"
rm -f "$D/cache_metadata.db"

# hostile keys never become paths
fresh sk
for k in "../escape" "/etc/passwd" "../../../$T/decoy/notes.txt" "a/../../b" "." ".." "tmp/x" "blobs"; do
    expect 0 "put key $k" -- "$BS" --dir "$T/sk" put --key "$k" "$T/hello.txt"
    expect 0 "get key $k" -- "$BS" --dir "$T/sk" get "$k"
    check "key $k bytes" 'cmp -s "$T/out" "$T/hello.txt"'
done
check "no file outside the store's layout" '[ -z "$(cd "$T/sk" && find . -path ./blobs -prune -o -path ./tmp -prune -o -type f -print | grep -v -e "^./blobstore.json$" -e "^./lock$" -e "^./space.reserve$" -e "^./cache_metadata")" ]'
check "no file escaped" '[ ! -e "$T/escape" ] && [ ! -e "$T/b" ]'
same "decoy untouched by hostile keys" "$D" "$T/decoy.snap"

# ---- 3. a user who may only read the store ----
if [ "$(id -u)" = 0 ] && command -v setpriv > /dev/null && id nobody > /dev/null 2>&1; then
    nobody() { setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups "$@"; }
    chmod 755 "$T"
    for backend in json sqlite; do
        R="$T/ro-$backend"
        fresh "ro-$backend" "$backend"
        "$BS" --dir "$R" put --key small --meta '{"a": 1}' "$T/hello.txt" > /dev/null
        chmod -R a+rX,go-w "$R"
        snap "$R" > "$T/ro.snap"
        expect 0 "read-only user: ls ($backend)" -- nobody "$BS" --dir "$R" ls
        check "read-only user: keys ($backend)" '[ "$(tr "\n" " " < "$T/out")" = "one small two " ]'
        expect 0 "read-only user: get ($backend)" -- nobody "$BS" --dir "$R" get one
        check "read-only user: bytes ($backend)" 'cmp -s "$T/out" "$T/big.bin"'
        expect 0 "read-only user: get small ($backend)" -- nobody "$BS" --dir "$R" get small
        check "read-only user: small bytes ($backend)" 'cmp -s "$T/out" "$T/hello.txt"'
        expect 0 "read-only user: meta ($backend)" -- nobody "$BS" --dir "$R" meta small
        check "read-only user: metadata ($backend)" 'grep -q "\"metadata\":{\"a\":1}" "$T/out"'
        expect 0 "read-only user: exists ($backend)" -- nobody "$BS" --dir "$R" exists two
        expect 1 "read-only user: exists absent ($backend)" -- nobody "$BS" --dir "$R" exists nope
        expect 0 "read-only user: verify ($backend)" -- nobody "$BS" --dir "$R" verify
        check "read-only user: verify counts ($backend)" 'grep -q "^3 entries checked: 3 ok" "$T/out"'
        expect 0 "read-only user: ls --where ($backend)" -- nobody "$BS" --dir "$R" ls --where '{"a": 1}'
        check "read-only user: filtered ($backend)" '[ "$(cat "$T/out")" = small ]'
        if nobody "$BS" --dir "$R" put --key x "$T/hello.txt" > /dev/null 2>&1; then
            bad "read-only user: put succeeded ($backend)"
        else ok; fi
        if nobody "$BS" --dir "$R" verify --repair > /dev/null 2>&1; then
            bad "read-only user: verify --repair succeeded ($backend)"
        else ok; fi
        same "read-only user changed nothing ($backend)" "$R" "$T/ro.snap"
        # the lock file and index files missing: still readable, still nothing written
        rm -f "$R/lock" "$R/cache_metadata.json.lock"
        snap "$R" > "$T/ro.snap"
        expect 0 "read-only user without lock files ($backend)" -- nobody "$BS" --dir "$R" get two
        same "no lock file created ($backend)" "$R" "$T/ro.snap"
    done
else
    echo "SKIP: read-only user tests need root and setpriv (run as root to test them)" >&2
fi

harness_done
