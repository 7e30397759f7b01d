#!/bin/sh
# `cmake --install` into a scratch prefix places the libraries, headers,
# blobstore.pc, the tool, the man page and the network modules (in
# LIBDIR/blobstore); a program builds against the installed copy with
# pkg-config (shared and static) and runs; the installed tool and programs
# find the modules there (the prefix moved: found relative to themselves)
# and load them only for a postgresql:// or s3:// URL.
set -eu
build=${1:-build}
prefix=$(mktemp -d "${TMPDIR:-/tmp}/bsinstall.XXXXXX")
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" > /dev/null
libdir=$(find "$prefix" -name blobstore.pc -printf '%h\n' | head -n 1)
for f in "$prefix/include/blobstore.h" "$prefix/include/blobstore/sys/blob_backend.h" \
         "$prefix/bin/blobstore" "$prefix/share/man/man1/blobstore.1" "$libdir/blobstore.pc"; do
    [ -e "$f" ] || { echo "install: missing $f" >&2; exit 1; }
done
ls "$libdir"/../libblobstore.so* "$libdir"/../libblobstore.a > /dev/null
moddir="$libdir/../blobstore"
mods=""
for m in pg s3; do
    if [ -e "$build/libblobstore-$m.so" ]; then
        [ -e "$moddir/libblobstore-$m.so" ] || { echo "install: missing $moddir/libblobstore-$m.so" >&2; exit 1; }
        # A module exports its entry only: nothing else can collide.
        bad=$(nm -D --defined-only "$moddir/libblobstore-$m.so" | awk '$2 ~ /[TDBRVW]/ && $3 != "bs__module_entry" {print $3}')
        [ -z "$bad" ] || { echo "install: libblobstore-$m.so exports more than bs__module_entry: $bad" >&2; exit 1; }
        mods="$mods $m"
    fi
done
! ldd "$prefix/bin/blobstore" | grep -E "libpq|libcurl" || { echo "install: the tool links libpq or libcurl" >&2; exit 1; }
# t DIR [URL]: a local put and get in DIR; with a PostgreSQL URL (a closed
# port), the module must load and fail to connect.
cat > "$prefix/t.c" <<'C'
#include <blobstore.h>
#include <blobstore/sys/meta_backend.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv)
{
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = argv[1];
    blobstore *bs;
    void *out;
    size_t n;
    if (argc > 2) {
        blobstore_meta_backend *be;
        if (blobstore_meta_backend_pg_new(&be, argv[2]) != BLOBSTORE_EIO ||
            strncmp(blobstore_errmsg(), "postgresql: cannot connect", 26) != 0) {
            fprintf(stderr, "pg: %s\n", blobstore_errmsg());
            return 1;
        }
    }
    if (blobstore_open(&bs, &o) || blobstore_put(NULL, bs, "k", "installed", 9, NULL) ||
        blobstore_get(&out, &n, bs, "k") || n != 9 || memcmp(out, "installed", 9)) {
        fprintf(stderr, "%s\n", blobstore_errmsg());
        return 1;
    }
    blobstore_free(out);
    blobstore_close(bs);
    printf("ok %s\n", blobstore_version());
    return 0;
}
C
pgurl=""
case " $mods " in *" pg "*) pgurl="postgresql://x@127.0.0.1:1/x?connect_timeout=5" ;; esac
unset BLOBSTORE_MODULE_DIR
export PKG_CONFIG_PATH="$libdir"
cc -o "$prefix/t-shared" "$prefix/t.c" $(pkg-config --cflags --libs blobstore)
LD_LIBRARY_PATH="$libdir/.." "$prefix/t-shared" "$prefix/s1" $pgurl > /dev/null
# The static library with its dependencies' shared libraries, as
# Requires.private names them (no libpq, no libcurl: the modules have them);
# the program in bindir finds the modules in ../lib/blobstore.
deps=$(sed -n 's/^Requires.private: //p' "$libdir/blobstore.pc")
cc -o "$prefix/bin/t-static" "$prefix/t.c" $(pkg-config --cflags blobstore) "$libdir/../libblobstore.a" \
    $(pkg-config --libs $deps) -lpthread -lm
"$prefix/bin/t-static" "$prefix/s2" $pgurl > /dev/null
if [ -n "$pgurl" ]; then
    "$prefix/bin/blobstore" --dir "$prefix/s3" --backend "$pgurl" ls > /dev/null 2> "$prefix/err" || true
    grep -q "postgresql: cannot connect" "$prefix/err" || { echo "install: the tool did not load its PostgreSQL module: $(cat "$prefix/err")" >&2; exit 1; }
fi
# Only the public API is exported from the shared library.
bad=$(nm -D --defined-only "$libdir"/../libblobstore.so | awk '$2 == "T" && $3 !~ /^blobstore_/ {print $3}')
[ -z "$bad" ] || { echo "install: non-API symbols exported: $bad" >&2; exit 1; }
# The static archive's global names are the public API (blobstore_) or
# internal (bs__): nothing that could collide with a program's or another
# library's names (c-blosc2 has its own b2nd_open, for one).
bad=$(nm -g --defined-only "$libdir"/../libblobstore.a | awk 'NF == 3 && $3 !~ /^(blobstore_|bs__)/ {print $3}')
[ -z "$bad" ] || { echo "install: unprefixed global symbols in libblobstore.a: $bad" >&2; exit 1; }
MANPAGER=cat man -l "$prefix/share/man/man1/blobstore.1" > /dev/null 2>&1 || true
echo "install: libraries, headers, blobstore.pc, tool, man page and modules (${mods# }) in place; shared and static link work; the modules load from the moved prefix"
