#!/bin/bash
# make_run.sh - make run installs only what the build and the demo need; the
# servers of the online tests (PostgreSQL, Ceph) and the Node modules come
# with make test. Prints "N passed, N failed".
set -u
. "$(dirname "$0")/harness.sh"
top=$(cd "$(dirname "$0")/.." && pwd)
INSTALL_DEPS_LIST=1 "$top/scripts/install-deps.sh" build core pg s3 python > "$T/build.txt"
INSTALL_DEPS_LIST=1 "$top/scripts/install-deps.sh" > "$T/all.txt"
check "the build's list has the core libraries" 'grep -qx liblz4-dev "$T/build.txt" && grep -qx libsnappy-dev "$T/build.txt"'
check "no PostgreSQL server or Ceph for the build" '! grep -Eq "^(postgresql-[0-9]+|ceph-mon|ceph-osd|radosgw)$" "$T/build.txt"'
check "the full list has them" 'grep -qx postgresql-15 "$T/all.txt" && grep -qx radosgw "$T/all.txt"'
make -s -n -C "$top" run > "$T/run.txt" 2>&1
check "make run installs the build's lists only" 'grep -q "install-deps.sh build core pg s3 python" "$T/run.txt" && ! grep -Eq "install-deps.sh *$|install-node-deps" "$T/run.txt"'
make -s -n -C "$top" test > "$T/test.txt" 2>&1
check "make test installs everything" 'grep -Eq "install-deps.sh *$" "$T/test.txt" && grep -q install-node-deps "$T/test.txt"'
harness_done
