#!/bin/sh
# fuzz/run.sh SECONDS [TARGET...]: builds the libFuzzer targets with clang
# (ASan + UBSan) and runs each for SECONDS, starting from its corpus.
# Exits non-zero if a target finds a crash.
set -eu
cd "$(dirname "$0")/.."
secs=${1:-30}
shift || true
targets=${*:-frame journal b2nd parquet s3list json csv}
out=build-fuzz
mkdir -p "$out"
# The core library (deps/packages.txt, part core) with the S3 listing parser;
# not the network modules (meta_pg.c, blob_s3.c and their shim).
# shellcheck disable=SC2046
pc=$(pkg-config --cflags --libs $(scripts/deps.sh core))
srcs=$(ls src/*.c src/*/*.c | grep -v -e '^src/cli/' -e '^src/meta_pg.c$' -e '^src/blob_s3.c$' -e '^src/module_shim.c$')
for t in $targets; do
    clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -D_GNU_SOURCE -Iinclude -Isrc -o "$out/${t}_fuzz" "fuzz/${t}_fuzz.c" $srcs $pc -lpthread -lm
    mkdir -p "$out/corpus-$t"
    cp -n fuzz/corpus/"$t"/* "$out/corpus-$t/" 2>/dev/null || true
    echo "fuzzing $t for ${secs}s"
    if ! "$out/${t}_fuzz" -artifact_prefix="$out/" -max_total_time="$secs" -max_len=65536 -timeout=10 \
        -print_final_stats=1 "$out/corpus-$t" > "$out/$t.log" 2>&1; then
        tail -n 40 "$out/$t.log"
        echo "fuzz: $t found a failure (input saved as $out/crash-* / leak-* / timeout-*)" >&2
        exit 1
    fi
    grep -E "stat::(number_of_executed_units|new_units_added)" "$out/$t.log"
done
