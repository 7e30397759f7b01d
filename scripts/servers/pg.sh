#!/bin/bash
# A throwaway PostgreSQL 15 server for the tests, on 127.0.0.1 only.
#   pg.sh start DIR PORT   initdb in DIR, start, create database "blobstore";
#                          prints the connection URL
#   pg.sh stop DIR         stop it (by its pid file)
#   pg.sh start-again DIR  start the stopped server again (fault tests)
# Refuses to start when the port is taken (a stale server would answer).
set -eu
BIN=/usr/lib/postgresql/15/bin
cmd=$1
dir=$2
run() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_start() {
    run "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
        -o "-k $dir -p $1 -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start > /dev/null
}
case "$cmd" in
start)
    port=$3
    [ -x "$BIN/postgres" ] || { echo "pg.sh: PostgreSQL 15 is not installed" >&2; exit 1; }
    if (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then
        echo "pg.sh: port $port is already in use" >&2
        exit 1
    fi
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
    run "$BIN/initdb" -D "$dir/data" -A trust -E UTF8 --locale=C -N -U postgres > "$dir/initdb.log" 2>&1
    echo "$port" > "$dir/port"
    pg_start "$port"
    run "$BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres blobstore
    echo "postgresql://postgres@127.0.0.1:$port/blobstore"
    ;;
stop)
    [ -f "$dir/data/postmaster.pid" ] && run "$BIN/pg_ctl" -D "$dir/data" -m fast -w stop > /dev/null
    ;;
start-again)
    pg_start "$(cat "$dir/port")"
    ;;
*)
    echo "usage: pg.sh start DIR PORT | stop DIR | start-again DIR" >&2
    exit 2
    ;;
esac
