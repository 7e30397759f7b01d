#!/bin/bash
# modules.sh - local use never loads the network backends: the tool does not
# link libpq or libcurl (ldd), a local put, get and ls map neither (the
# dynamic loader's own log, LD_DEBUG=files), and a postgresql:// or s3:// URL
# loads its module, and only it, on first use; a module that is not there is
# named in the error.
# Usage: modules.sh PATH-TO-blobstore [MODULE-DIR]. Prints "N passed, N failed".
set -u
BS=${1:-${BLOBSTORE_CLI:-build/blobstore}}
MODDIR=${2:-$(dirname "$BS")}
. "$(dirname "$0")/harness.sh"
unset BLOBSTORE_MODULE_DIR

check "the tool links neither libpq nor libcurl" '! ldd "$BS" | grep -E "libpq|libcurl|libblobstore-"'
echo hello > "$T/f"
for cmd in "put --key k $T/f" "get k" "ls"; do
    # shellcheck disable=SC2086
    LD_DEBUG=files "$BS" --dir "$T/s" $cmd > "$T/out" 2> "$T/ld"
    check "local $cmd succeeds" '[ $? -eq 0 ]'
    check "local $cmd loads no network library" '! grep -E "file=.*(libpq|libcurl|libblobstore-)" "$T/ld"'
done
check "ls lists the key" '[ "$(cat "$T/out")" = k ]'
"$BS" --dir "$T/s" get k > "$T/out"
check "get returns the value" '[ "$(cat "$T/out")" = hello ]'

if [ -e "$MODDIR/libblobstore-pg.so" ] && [ -e "$MODDIR/libblobstore-s3.so" ]; then
    # A server that is not there: the module loads, and its own error comes back.
    LD_DEBUG=files "$BS" --dir "$T/p" --backend "postgresql://x@127.0.0.1:1/x?connect_timeout=5" \
        put --key k "$T/f" > /dev/null 2> "$T/ld"
    check "postgresql:// loads the PostgreSQL module and libpq" \
        'grep -q "file=.*libblobstore-pg.so" "$T/ld" && grep -q "file=libpq" "$T/ld"'
    check "postgresql:// does not load the S3 module" '! grep -E "file=.*(libcurl|libblobstore-s3)" "$T/ld"'
    check "the module's error comes back" 'grep -q "postgresql: cannot connect" "$T/ld"'
    AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=y LD_DEBUG=files "$BS" --dir "$T/q" \
        --blob-backend "s3://b/p?endpoint=http://127.0.0.1:1" put --key k "$T/f" > /dev/null 2> "$T/ld"
    check "s3:// loads the S3 module and libcurl" \
        'grep -q "file=.*libblobstore-s3.so" "$T/ld" && grep -q "file=libcurl" "$T/ld"'
    check "s3:// does not load the PostgreSQL module" '! grep -E "file=.*(libpq|libblobstore-pg)" "$T/ld"'
else
    echo "modules.sh: SKIPPED the loading checks: $MODDIR/libblobstore-pg.so or -s3.so not built" >&2
fi

mkdir "$T/none"
expect 4 "postgresql:// without its module" -- env BLOBSTORE_MODULE_DIR="$T/none" "$BS" --dir "$T/p2" \
    --backend "postgresql://x@127.0.0.1:1/x" put --key k "$T/f"
check "the missing module is named" 'grep -qF "the PostgreSQL backend is not installed: libblobstore-pg.so not found in $T/none" "$T/err"'
expect 4 "s3:// without its module" -- env BLOBSTORE_MODULE_DIR="$T/none" "$BS" --dir "$T/q2" \
    --blob-backend "s3://b/p" put --key k "$T/f"
check "the missing module is named" 'grep -qF "the S3 backend is not installed: libblobstore-s3.so not found in $T/none" "$T/err"'
harness_done
