#!/bin/sh
# Regenerate the committed sculpt-core result tables in bench/core/.
#
#   bench/core/make-tables.sh            (from the repository root)
#
# 1. builds the standalone core in build/core (meson + ninja, -j2);
# 2. writes the fixed synthetic traces (src/tracegen.cc) to build/core/traces;
# 3. replays every policy over every trace at fast capacity 2/5/10/25/50 %
#    of RAM, move budget 10 % of RAM per interval, seed 1, with Belady's
#    limit and the informed bound (the generator's prior), and writes
#    bench/core/hit-ratio.md;
# 4. measures the model cost at 262,144 blocks into bench/core/cost.md.
# Everything is deterministic except the cost figures (wall-clock time).
set -eu

repo=$(cd "$(dirname "$0")/../.." && pwd)
build=$repo/build/core
out=$repo/bench/core

if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$repo/subprojects/sculpt-core"
fi
ninja -C "$build" -j2 sculpt-replay sculpt-tracegen sculpt-cost
mkdir -p "$build/traces"
"$build/sculpt-tracegen" --all "$build/traces"

cmd="sculpt-replay --table --details --capacity 2,5,10,25,50 --move-budget 10 --seed 1 traces/*.sctrace"
{
    echo "# sculpt-core: fast-tier hit ratio by policy"
    echo
    echo "Produced by \`bench/core/make-tables.sh\`, which runs (in build/core):"
    echo
    echo "    sculpt-tracegen --all traces"
    echo "    $cmd"
    echo
    echo "Traces (parameters fixed in subprojects/sculpt-core/src/tracegen.cc"
    echo "before any policy was tuned; 8192 blocks of 128 KiB, 500 intervals):"
    echo
    "$build/sculpt-tracegen" --list | sed 's/^\([^ ]*\) *\(.*\)$/- `\1`: \2/'
    echo
    echo "A touch is a (block, interval) pair; it is a hit if the block was in"
    echo "fast memory when the interval began, so first touches are misses"
    echo "unless prefetched.  belady: clairvoyant, moves free; belady-budget:"
    echo "the same oracle limited to the move budget; informed: told the"
    echo "generator's state before each interval (the live hot set, the Zipf"
    echo "ranks, the stream positions, every rate) but not its random draws,"
    echo "moves free: the most a policy that sees only the past can expect."
    echo "See subprojects/sculpt-core/src/replay.h for the exact model."
    echo
    (cd "$build" && ./sculpt-replay --table --details --capacity 2,5,10,25,50 \
        --move-budget 10 --seed 1 traces/*.sctrace)
} > "$out/hit-ratio.md"

{
    echo "# sculpt-core: model cost per block per interval"
    echo
    echo "Produced by \`bench/core/make-tables.sh\`, which runs (in build/core):"
    echo
    echo "    sculpt-cost --blocks 262144 --intervals 40"
    echo
    echo "end_interval = history update + training + prediction + statistics,"
    echo "thread CPU time over 40 intervals after 5 warm-up intervals, one thread,"
    echo "buildtype debugoptimized (-O2 -g).  Timing figures: they vary"
    echo "with the machine and its load; target <= 50 ns/block."
    echo
    echo "Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    echo '```'
    "$build/sculpt-cost" --blocks 262144 --intervals 40
    echo '```'
} > "$out/cost.md"
echo "wrote $out/hit-ratio.md and $out/cost.md"
