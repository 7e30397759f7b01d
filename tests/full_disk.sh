#!/bin/bash
# full_disk.sh - space can always be freed: on a full disk, rm and clear still
# succeed on every local index (JSON, SQLite), the space comes back, and the
# store verifies clean. Mounts a 4 MiB tmpfs, so it needs root; otherwise it
# says so loudly and exits 77 (ctest: skipped).
# Usage: full_disk.sh PATH-TO-blobstore. Prints "N passed, N failed".
set -u
BS=${1:-${BLOBSTORE_CLI:-build/blobstore}}
. "$(dirname "$0")/harness.sh"

M="$T/mnt"
mkdir "$M"
if [ "$(id -u)" -ne 0 ] || ! mount -t tmpfs -o size=4m tmpfs "$M" 2> "$T/mount.err"; then
    echo "SKIPPED: full_disk.sh needs root to mount a small tmpfs ($(cat "$T/mount.err" 2> /dev/null)): the full-disk rm/clear test did NOT run" >&2
    echo "SKIPPED: full_disk.sh did not run (not root, or mount refused)"
    exit 77
fi
trap 'umount "$M"; rm -rf "$T"' EXIT
avail() { df -k --output=avail "$M" | tail -n 1 | tr -d ' '; }
fill() { head -c 8000000 /dev/zero > "$M/filler.$1" 2> /dev/null; }

for be in json sqlite; do
    S="$M/$be"
    b() { "$BS" --dir "$S" "$@"; }
    # Fill the disk through the store: 100 kB blobs, then small values (inline
    # in SQLite), until a put fails; then a filler file takes what is left.
    m=0
    while [ $m -lt 12 ] && head -c 200 /dev/urandom | b --backend $be put --key "small$m" - > /dev/null; do
        m=$((m + 1))
    done
    n=0
    while [ $n -lt 100 ] && head -c 100000 /dev/urandom | b --compression none put --key "big$n" - > /dev/null 2> "$T/put.err"; do
        n=$((n + 1))
    done
    while [ $m -lt 2000 ] && head -c 200 /dev/urandom | b put --key "small$m" - > /dev/null 2> "$T/put.err"; do
        m=$((m + 1))
    done
    fill 1
    check "$be: the store filled the disk ($n blobs, $m small values)" '[ $n -ge 10 ] && [ $m -ge 12 ] && [ "$(avail)" -eq 0 ]'
    check "$be: the failed put said why" 'grep -Eq "No space left|disk is full" "$T/put.err"'
    expect 4 "$be: a put on the full disk fails" -- b put --key more "$T/put.err"
    expect 0 "$be: ls on the full disk" -- b ls
    check "$be: every key listed" '[ "$(wc -l < "$T/out")" -eq $((n + m)) ]'
    # rm, one key at a time, on the full disk
    for i in 0 1 2 3 4 5 6 7; do
        expect 0 "$be: rm big$i on a full disk" -- b rm "big$i"
        if [ $i -lt $m ]; then
            expect 0 "$be: rm small$i on a full disk" -- b rm "small$i"
        fi
        fill "r$i" # take back whatever the rm freed: the next rm starts full again
    done
    expect 1 "$be: the removed keys are gone" -- b exists big3
    rm -f "$M"/filler.r*
    check "$be: rm gave the blobs' space back" '[ "$(avail)" -ge 700 ]'
    # clear, on a full disk again
    fill 2
    check "$be: full again" '[ "$(avail)" -eq 0 ]'
    expect 0 "$be: clear on a full disk" -- b clear
    left=$((n + m - 8 - (m < 8 ? m : 8)))
    check "$be: clear counted every entry left ($left)" '[ "$(cat "$T/out")" -eq $left ]'
    expect 0 "$be: ls after clear" -- b ls
    check "$be: nothing left" '[ ! -s "$T/out" ]'
    expect 0 "$be: verify after clear" -- b verify
    check "$be: verify clean" 'grep -q "^0 entries checked: 0 ok, 0 corrupt, 0 dangling, 0 orphans, 0 temporary files" "$T/out"'
    rm -f "$M"/filler.*
    check "$be: the space came back" '[ "$(avail)" -ge 2500 ]'
    check "$be: the space reserve was made again" '[ "$(stat -c %s "$S/space.reserve")" -eq 1048576 ]'
    expect 0 "$be: the store works after" -- b put --key again "$T/put.err"
    rm -rf "$S"
done

harness_done
