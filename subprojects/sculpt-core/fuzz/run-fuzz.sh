#!/bin/sh
# Build the sculpt-core libFuzzer targets with clang and run each for a
# bounded time.  Usage:
#   subprojects/sculpt-core/fuzz/run-fuzz.sh [SECONDS] [BUILD_DIR]
# SECONDS is the time per target (default 60); BUILD_DIR defaults to
# build/core-fuzz under the repository.  Seeds come from sculpt-tracegen at
# a small scale; corpora persist in BUILD_DIR/corpus-*.  Exits non-zero if a
# target finds a crash (the reproducer is left in BUILD_DIR).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
repo=$(cd "$src/../.." && pwd)
secs=${1:-60}
build=${2:-$repo/build/core-fuzz}

if [ ! -f "$build/build.ninja" ]; then
    CC=clang CXX=clang++ meson setup "$build" "$src" -Dfuzz=true \
        -Dtests=disabled -Dtools=disabled -Dbuildtype=debugoptimized \
        -Db_lundef=false
fi
ninja -C "$build" fuzz_abi fuzz_trace

mkdir -p "$build/corpus-abi" "$build/corpus-trace" "$build/seed-trace"
# Seed the trace target with real (small) traces written by the C ABI's own
# writer format: take the first 4 KiB of each generated trace's records.
if [ -x "$repo/build/core/sculpt-tracegen" ] && [ -z "$(ls -A "$build/seed-trace")" ]; then
    "$repo/build/core/sculpt-tracegen" --all "$build/seed-trace" >/dev/null 2>&1 || true
    for f in "$build"/seed-trace/*.sctrace; do
        [ -f "$f" ] && head -c 4096 "$f" > "$f.head" && rm -f "$f"
    done
fi

status=0
for t in abi trace; do
    seeds=
    [ "$t" = trace ] && seeds="$build/seed-trace"
    echo "== fuzz_$t for ${secs}s"
    (cd "$build" && ASAN_OPTIONS=detect_leaks=1 ./fuzz_$t -max_total_time="$secs" \
        -max_len=65536 -print_final_stats=1 "corpus-$t" $seeds) \
        >"$build/fuzz_$t.log" 2>&1 || status=1
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb|ERROR|SUMMARY" \
        "$build/fuzz_$t.log" || true
done
exit $status
