#!/bin/bash
# Starts a real PostgreSQL 15 server on 127.0.0.1, runs the PostgreSQL tests
# against it, and stops it, whatever happens. Fails loudly when the server
# cannot be installed or started.
# Usage: pg.sh TEST-BINARY
set -eu
bin=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/blobstore-pg.XXXXXX")
chmod 755 "$dir"
port=$((56000 + $$ % 4000))
trap '"$root/scripts/servers/pg.sh" stop "$dir" || true; rm -rf "$dir"' EXIT
if ! url=$("$root/scripts/servers/pg.sh" start "$dir" "$port"); then
    echo "pg.sh: FAILED to start PostgreSQL (see $dir/server.log)" >&2
    cat "$dir/server.log" >&2 2>/dev/null || true
    exit 1
fi
BLOBSTORE_PG_URL=$url "$bin"
