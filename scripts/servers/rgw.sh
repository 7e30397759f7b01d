#!/bin/bash
# A throwaway single-node Ceph cluster with a RADOS Gateway (S3) for the
# tests, on 127.0.0.1 only: one monitor (msgr2), one memstore OSD, radosgw
# with the beast frontend, and an S3 user with known keys.
#   rgw.sh start DIR RGW-PORT MON-PORT   start it; prints the environment
#                                        (AWS_* and BLOBSTORE_S3_ENDPOINT)
#   rgw.sh stop DIR                      stop it: radosgw, OSD, monitor (by pid)
#   rgw.sh stop-gateway DIR              stop only radosgw (fault tests)
#   rgw.sh start-gateway DIR             start radosgw again
# Everything lives under DIR. Refuses to start when a port is taken (a stale
# cluster would answer the readiness polls).
set -eu
cmd=${1:-}
dir=${2:-}
[ -n "$dir" ] || { echo "usage: rgw.sh start DIR RGW-PORT MON-PORT | stop DIR | stop-gateway DIR | start-gateway DIR" >&2; exit 2; }
taken() { (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }
# poll TENTHS CMD...: until CMD succeeds, for up to TENTHS tenths of a second
poll() { local n=$1 i=0; shift; until "$@" >/dev/null 2>&1; do i=$((i + 1)); [ $i -lt "$n" ] || return 1; sleep 0.1; done; }
stop_pid() {
    local f=$1 pid i=0
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    if kill -TERM "$pid" 2>/dev/null; then
        while kill -0 "$pid" 2>/dev/null; do
            i=$((i + 1))
            if [ $i -ge 150 ]; then kill -KILL "$pid" 2>/dev/null || true; break; fi
            sleep 0.1
        done
    fi
    rm -f "$f"
}
gateway_up() { curl -sf -o /dev/null "http://127.0.0.1:$1/"; }
case "$cmd" in
start)
    rgw_port=$3
    mon_port=$4
    for b in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph curl; do
        command -v $b >/dev/null || { echo "rgw.sh: $b is not installed (scripts/install-deps.sh)" >&2; exit 1; }
    done
    for p in "$rgw_port" "$mon_port"; do
        if taken "$p"; then echo "rgw.sh: port $p is already in use" >&2; exit 1; fi
    done
    mkdir -p "$dir"
    c=$(cd "$dir" && pwd)
    mkdir -p "$c/run" "$c/log" "$c/mon" "$c/osd" "$c/rgw/client.rgw"
    fsid=$(cat /proc/sys/kernel/random/uuid)
    conf=$c/ceph.conf
    cat > "$conf" <<CONF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
mon initial members = a
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
ms bind msgr1 = false
ms bind msgr2 = true
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
paxos propose interval = 0.1
run dir = $c/run
pid file = $c/run/\$name.pid
admin socket = $c/run/\$name.asok
log file = $c/log/\$name.log
keyring = /dev/null
mon data = $c/mon/\$name
osd data = $c/osd/\$name
osd objectstore = memstore
memstore device bytes = 2147483648
rgw data = $c/rgw/\$name
[client]
ms mon client mode = crc
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port tcp_nodelay=1
CONF
    echo "$rgw_port" > "$c/rgw.port"
    fail() { echo "rgw.sh: $*" >&2; tail -n 20 "$c"/log/*.log >&2 2>/dev/null || true; exit 1; }
    cc() { timeout 10 ceph -c "$conf" --connect-timeout 5 "$@"; }
    monmaptool --create --clobber --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$c/monmap" > /dev/null
    ceph-mon -c "$conf" -i a --mkfs --monmap "$c/monmap" > "$c/log/mkfs-mon.out" 2>&1 || fail "ceph-mon --mkfs failed"
    ceph-mon -c "$conf" -i a || fail "ceph-mon did not start"
    poll 300 cc mon stat || fail "the monitor is not answering"
    uuid=$(cat /proc/sys/kernel/random/uuid)
    id=$(cc osd new "$uuid") || fail "ceph osd new failed"
    mkdir -p "$c/osd/osd.$id"
    ceph-osd -c "$conf" -i "$id" --mkfs --osd-uuid "$uuid" > "$c/log/mkfs-osd.out" 2>&1 || fail "ceph-osd --mkfs failed"
    ceph-osd -c "$conf" -i "$id" 2>> "$c/log/start-osd.out" || fail "ceph-osd did not start"
    osd_up() { cc osd dump | grep -q "^osd.$id up"; }
    poll 600 osd_up || fail "osd.$id did not come up"
    radosgw -c "$conf" -n client.rgw || fail "radosgw did not start"
    poll 600 gateway_up "$rgw_port" || fail "radosgw is not answering on port $rgw_port"
    access=BLOBSTORETESTKEY0001
    secret=blobstore-test-secret-key-0001
    timeout 60 radosgw-admin -c "$conf" -n client.rgw user create --uid=test --display-name=test \
        --access-key=$access --secret-key=$secret > "$c/log/user.out" 2>&1 || fail "radosgw-admin user create failed"
    echo "AWS_ACCESS_KEY_ID=$access"
    echo "AWS_SECRET_ACCESS_KEY=$secret"
    echo "AWS_REGION=us-east-1"
    echo "BLOBSTORE_S3_ENDPOINT=http://127.0.0.1:$rgw_port"
    ;;
stop)
    stop_pid "$dir/run/client.rgw.pid"
    for f in "$dir"/run/osd.*.pid; do stop_pid "$f"; done
    stop_pid "$dir/run/mon.a.pid"
    ;;
stop-gateway)
    stop_pid "$dir/run/client.rgw.pid"
    ;;
start-gateway)
    port=$(cat "$dir/rgw.port")
    if taken "$port"; then echo "rgw.sh: port $port is already in use" >&2; exit 1; fi
    radosgw -c "$dir/ceph.conf" -n client.rgw
    poll 300 gateway_up "$port" || { echo "rgw.sh: radosgw is not answering on port $port" >&2; exit 1; }
    ;;
*)
    echo "usage: rgw.sh start DIR RGW-PORT MON-PORT | stop DIR | stop-gateway DIR | start-gateway DIR" >&2
    exit 2
    ;;
esac
