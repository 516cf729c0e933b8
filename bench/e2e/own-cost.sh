#!/bin/bash
# What sculpt costs a guest whose memory all fits in its budget: nothing
# to move, so whatever separates these runs is tracking's and auto mode's
# own work (bench/e2e/README.md, "Sculpt's own cost").
#
#   bench/e2e/own-cost.sh [REPEATS]       (root, after `make`; default 1)
#   QEMU=/path/to/qemu-system-x86_64 bench/e2e/own-cost.sh    another build
#
# Boots the test guest (1 GiB) with phases-cycle, as SWEEP.md's runs, under
# perf, once per setting and repeat:
#   plain   no sculpt object
#   track   sculpt object, track=on,interval=250: the dirty log and the
#           model, no auto mode
#   auto    auto=on,fast-budget=1024M, as run.py's sculpt config: guest RAM
#           never comes near the budget
# and prints the workload's ops/s, the sculpt thread's CPU (its samples /
# perf's rate: seconds on a host CPU over the whole run), the vCPU
# thread's samples and how many of them are in the dirty log's functions
# (notdirty_write(): a guest's first store to a page after each sync;
# cpu_physical_memory_get_dirty() and find_next_bit(): the dirty checks of
# each TLB fill; in plain runs the code bitmap's share of them).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
reps=${1:-1}
rate=499
out=$(mktemp -d /tmp/own-cost.XXXXXX)
trap 'rm -rf "$out"' EXIT
command -v perf >/dev/null || { echo "own-cost: needs perf" >&2; exit 77; }
mkdir -p "$out/cold"
args="--order cycle --phases 6 --phase-mib 96 --ops 2000000 --cycles 3 --seed 1"

run() {     # name, extra QEMU args...
    local name=$1 log=$out/$1.log data=$out/$1.data ops
    shift
    perf record -q -F $rate -o "$data" -- "$repo/guest/run-guest" --accel tcg \
        --run phases --args "$args" --timeout 300 -- \
        -name own-cost,debug-threads=on "$@" > "$log" 2>&1 || {
        echo "$name: the guest run failed (see $log)"; return 1; }
    ops=$(sed -n 's/^SCULPT-RESULT .*ops_per_s=\([0-9.]*\).*/\1/p' "$log")
    perf report -i "$data" --no-children --sort comm,sym -F sample,comm,sym \
        --stdio 2>/dev/null | awk -v name="$name" -v ops="$ops" -v rate=$rate '
        /^ *[0-9]+ / {
            n = $1
            if ($0 ~ / sculpt /) sc += n
            if ($0 ~ / CPU 0\/TCG /) {
                vcpu += n
                if ($0 ~ /notdirty_write|cpu_physical_memory_get_dirty|find_next_bit/)
                    dl += n
            }
        }
        END { printf "%-6s %10.0f ops/s   sculpt thread %5.2f s CPU   vCPU samples %6d, in dirty-log checks %5d (%4.1f%%)\n",
                     name, ops, sc / rate, vcpu, dl, vcpu ? 100 * dl / vcpu : 0 }'
}

for r in $(seq "$reps"); do
    run plain
    run track -object "sculpt,id=sc0,memdev=ram0,track=on,interval=250"
    run auto -object "sculpt,id=sc0,memdev=ram0,auto=on,fast-budget=1024M,cold-tier=file,cold-dir=$out/cold,cold-size=1024M,track=on,interval=250,policy=guarded"
done
