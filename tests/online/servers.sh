#!/bin/bash
# Starts real servers on 127.0.0.1 - PostgreSQL 15 (--pg) and a Ceph RADOS
# Gateway (--rgw) - runs a test program against them and stops them,
# whatever happens. A server that cannot be installed or started fails the
# run loudly; nothing is skipped.
# Usage: servers.sh [--pg] [--rgw] PROGRAM [ARGS...]
# The program sees BLOBSTORE_PG_URL, BLOBSTORE_PG_DIR, AWS_* credentials,
# BLOBSTORE_S3_ENDPOINT and BLOBSTORE_RGW_DIR (the directories are for the
# scripts/servers/*.sh fault commands).
set -eu
pg=0
rgw=0
while [ $# -gt 0 ]; do
    case "$1" in
    --pg) pg=1; shift ;;
    --rgw) rgw=1; shift ;;
    *) break ;;
    esac
done
[ $# -gt 0 ] || { echo "usage: servers.sh [--pg] [--rgw] PROGRAM [ARGS...]" >&2; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/blobstore-servers.XXXXXX")
chmod 755 "$dir"
cleanup() {
    [ $rgw -eq 1 ] && { "$root/scripts/servers/rgw.sh" stop "$dir/rgw" || true; }
    [ $pg -eq 1 ] && { "$root/scripts/servers/pg.sh" stop "$dir/pg" || true; }
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
taken() { (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }
# Ports below the kernel's ephemeral range (32768 and up by default: there a
# port can be in use by some client socket without anyone listening), derived
# from our pid; a start that fails (a port grabbed meanwhile) is retried on
# the next candidates before the run fails.
base=$(($$ % 1000))
if [ $pg -eq 1 ]; then
    ok=0
    for i in 0 1 2 3 4 5; do
        port=$((20000 + (base + 167 * i) % 4000))
        taken "$port" && continue
        rm -rf "$dir/pg"
        if url=$("$root/scripts/servers/pg.sh" start "$dir/pg" "$port" 2> "$dir/pg.err"); then
            ok=1
            break
        fi
        "$root/scripts/servers/pg.sh" stop "$dir/pg" > /dev/null 2>&1 || true
    done
    if [ $ok -eq 0 ]; then
        cat "$dir/pg.err" "$dir/pg/server.log" >&2 2>/dev/null || true
        echo "servers.sh: FAILED to start PostgreSQL 15 (install it with scripts/install-deps.sh)" >&2
        exit 1
    fi
    export BLOBSTORE_PG_URL=$url BLOBSTORE_PG_DIR=$dir/pg
fi
if [ $rgw -eq 1 ]; then
    ok=0
    for i in 0 1 2 3 4 5; do
        rport=$((24000 + (base + 167 * i) % 4000))
        mport=$((28000 + (base + 167 * i) % 4000))
        taken "$rport" && continue
        taken "$mport" && continue
        rm -rf "$dir/rgw"
        if envs=$("$root/scripts/servers/rgw.sh" start "$dir/rgw" "$rport" "$mport" 2> "$dir/rgw.err"); then
            ok=1
            break
        fi
        "$root/scripts/servers/rgw.sh" stop "$dir/rgw" > /dev/null 2>&1 || true
    done
    if [ $ok -eq 0 ]; then
        cat "$dir/rgw.err" >&2
        echo "servers.sh: FAILED to start the Ceph RADOS Gateway (install it with scripts/install-deps.sh)" >&2
        exit 1
    fi
    for kv in $envs; do export "${kv?}"; done
    export BLOBSTORE_RGW_DIR=$dir/rgw
    # Only the test's own endpoint: nothing may reach beyond the loopback.
    unset AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 AWS_DEFAULT_REGION
fi
export BLOBSTORE_SOURCE_DIR=$root
set +e
"$@"
rc=$?
[ $rc -eq 0 ] || echo "servers.sh: the tests FAILED (exit $rc)" >&2
exit $rc
