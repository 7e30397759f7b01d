#!/bin/sh
# `cmake --install` into a scratch prefix places the libraries, headers,
# blobstore.pc, the tool and the man page; a program builds against the
# installed copy with pkg-config (shared and static) and runs.
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
cat > "$prefix/t.c" <<'C'
#include <blobstore.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv)
{
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = argv[1];
    blobstore *bs;
    void *out;
    size_t n;
    (void)argc;
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
export PKG_CONFIG_PATH="$libdir"
cc -o "$prefix/t-shared" "$prefix/t.c" $(pkg-config --cflags --libs blobstore)
LD_LIBRARY_PATH="$libdir/.." "$prefix/t-shared" "$prefix/s1" > /dev/null
# The static library with its dependencies' shared libraries (Debian ships no
# static libpq dependencies), as Requires.private names them.
deps=$(sed -n 's/^Requires.private: //p' "$libdir/blobstore.pc")
cc -o "$prefix/t-static" "$prefix/t.c" $(pkg-config --cflags blobstore) "$libdir/../libblobstore.a" \
    $(pkg-config --libs $deps) -lpthread -lm
"$prefix/t-static" "$prefix/s2" > /dev/null
# Only the public API is exported from the shared library.
bad=$(nm -D --defined-only "$libdir"/../libblobstore.so | awk '$2 == "T" && $3 !~ /^blobstore_/ {print $3}')
[ -z "$bad" ] || { echo "install: non-API symbols exported: $bad" >&2; exit 1; }
# The static archive's global names are the public API (blobstore_) or
# internal (bs__): nothing that could collide with a program's or another
# library's names (c-blosc2 has its own b2nd_open, for one).
bad=$(nm -g --defined-only "$libdir"/../libblobstore.a | awk 'NF == 3 && $3 !~ /^(blobstore_|bs__)/ {print $3}')
[ -z "$bad" ] || { echo "install: unprefixed global symbols in libblobstore.a: $bad" >&2; exit 1; }
MANPAGER=cat man -l "$prefix/share/man/man1/blobstore.1" > /dev/null 2>&1 || true
echo "install: libraries, headers, blobstore.pc, tool and man page in place; shared and static link work"
