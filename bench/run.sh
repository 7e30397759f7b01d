#!/bin/sh
# make bench: every section of the benchmark, each line measured next to its
# baseline in the same run, with the ratio and the target (issue 16).
# Usage: bench/run.sh BUILD_DIR [--quick] [--online]
#   --quick   small sizes, for development (a minute or two)
#   --online  also the S3 and PostgreSQL lines: servers are started on
#             127.0.0.1 by tests/online/servers.sh (without it they run only
#             when BLOBSTORE_PG_URL / BLOBSTORE_S3_ENDPOINT are already set)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
shift
quick=""
online=0
for a in "$@"; do
    case "$a" in
    --quick) quick=--quick ;;
    --online) online=1 ;;
    *) echo "usage: bench/run.sh BUILD_DIR [--quick] [--online]" >&2; exit 2 ;;
    esac
done
"$here/scripts/install-deps.sh" bench
root=$(mktemp -d /var/tmp/blobstore-bench.XXXXXX)
trap 'rm -rf "$root"' EXIT
start=$(date +%s)
# Debian's Python (its NumPy, diskcache and joblib) with the package just built.
py() { PYTHONPATH="$build/python" /usr/bin/python3 "$@"; }
"$build/blobstore_bench" "$root/c" $quick
py "$here/bench/bench_python.py" "$root/py" $quick
py "$here/bench/bench_tables.py" "$build/blobstore" "$here/tests/parquet/interop" "$root/tables" $quick
if [ $online -eq 1 ]; then
    "$here/tests/online/servers.sh" --pg --rgw "$build/blobstore_bench" "$root/online" --online $quick
elif [ -n "${BLOBSTORE_PG_URL:-}${BLOBSTORE_S3_ENDPOINT:-}" ]; then
    "$build/blobstore_bench" "$root/online" --online $quick
else
    echo
    echo "S3 and PostgreSQL: skipped (no servers; make bench-online starts them)"
fi
echo
echo "bench: $(($(date +%s) - start)) s"
