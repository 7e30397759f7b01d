# harness.sh - sourced by the shell test scripts: a scratch directory $T
# (removed at exit) and the checks. Counts go to $pass and $fail; finish with
# harness_done.
T=$(mktemp -d "${TMPDIR:-/tmp}/bstest-sh.XXXXXX")
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
# expect CODE DESCRIPTION -- COMMAND...: run, keep stdout in $T/out, stderr in $T/err
expect() {
    local want=$1 what=$2
    shift 3
    "$@" > "$T/out" 2> "$T/err"
    local got=$?
    if [ "$got" -eq "$want" ]; then ok; else bad "$what: exit $got, want $want ($(head -c 300 "$T/err"))"; fi
}
check() { if eval "$2"; then ok; else bad "$1"; fi; }
harness_done() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}

flip() { # invert one byte of a file
    local v
    v=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    printf "\\$(printf '%03o' $((v ^ 255)))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
