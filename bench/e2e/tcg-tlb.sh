#!/bin/bash
# Under TCG, how the size of QEMU's software TLB moves a guest's speed, and
# what in sculpt changes it (bench/e2e/README.md, "Caveats").
#
#   bench/e2e/tcg-tlb.sh [REPEATS]        (root, after `make`; default 1)
#
# Boots the test guest with phases-recurring (field.md's phases, region 0
# every other step) under perf, once per setting and repeat:
#   plain        no sculpt object
#   dirty-log    sculpt object, track=on, interval=250 (the dirty log on
#                all the time, as auto mode runs it): no moves
#   duty-25      the same with track-duty=25: the dirty log is switched on
#                and off every interval
#   plain+tick, dirty-log+tick   the first two with a guest process that
#                wakes every 250 ms (guest/init's sculpt.ticker): the
#                dirty log's cost with a TLB that holds the working set
# and prints the workload's ops/s and, of the vCPU thread's perf samples,
# the share in do_ld_8 (TCG's out-of-line load, taken when the inline TLB
# lookup misses), in the JIT-compiled code and in notdirty_write() (the
# first store to a page after a dirty-log sync or while the page may hold
# translated code).  TCG resizes a vCPU's TLB
# only when it flushes it (accel/tcg/cputlb.c, tlb_mmu_resize_locked());
# switching the dirty log flushes every vCPU's TLB (tcg_commit()), the
# guest rarely does on its own.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
reps=${1:-1}
out=$(mktemp -d /tmp/tcg-tlb.XXXXXX)
cold=$out/cold
mkdir -p "$cold"
trap 'rm -rf "$out"' EXIT
command -v perf >/dev/null || { echo "tcg-tlb: needs perf" >&2; exit 77; }
args="--order recurring --phases 6 --phase-mib 96 --ops 2000000 --cycles 3 --seed 1"

run() {     # name, extra QEMU args...
    local name=$1 log=$out/$1.log data=$out/$1.data
    shift
    # shellcheck disable=SC2086 # $ticker: an option and its value, or none
    perf record -q -F 499 -o "$data" -- "$repo/guest/run-guest" --accel tcg \
        --run phases --args "$args" --timeout 300 $ticker -- "$@" \
        > "$log" 2>&1 || {
        echo "$name: the guest run failed (see $log)"; return 1; }
    local ops vcpu
    ops=$(sed -n 's/^SCULPT-RESULT .*ops_per_s=\([0-9.]*\).*/\1/p' "$log")
    # the vCPU thread: the one with the most samples
    vcpu=$(perf report -i "$data" --no-children --sort pid --stdio 2>/dev/null |
           awk '/^ *[0-9.]+%/ { split($2, a, ":"); print a[1]; exit }')
    perf report -i "$data" --no-children --tid "$vcpu" --sort dso,sym \
        --stdio -g none 2>/dev/null | awk -v name="$name" -v ops="$ops" '
        /^ *[0-9.]+%/ {
            p = $1; sub("%", "", p)
            if ($0 ~ /\[JIT\]/) jit += p
            if ($0 ~ / do_ld_8$/) ld += p
            if ($0 ~ / notdirty_write/) nd += p
        }
        END { printf "%-14s %9.0f ops/s   vCPU samples: do_ld_8 %5.1f%%, JIT code %5.1f%%, notdirty_write %4.1f%%\n",
                     name, ops, ld, jit, nd }'
}

track="sculpt,id=sc0,memdev=ram0,track=on,interval=250"
for r in $(seq "$reps"); do
    ticker=
    run plain
    run dirty-log -object "$track"
    run duty-25 -object "$track,track-duty=25"
    ticker="--append sculpt.ticker=250"
    run plain+tick
    run dirty-log+tick -object "$track"
done
