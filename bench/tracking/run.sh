#!/bin/sh
# Tracking (access sampling) cost benchmark: builds bench/tracking/track-bench
# and runs it on a 1 GiB memfd guest at 64 KiB blocks, one worker thread
# touching a 25% hot set, 5 alternating off/on pairs of 5 s each, with
#   default     interval 1 s, max_regions 1000, 1 sample per region
#   aggressive  interval 100 ms, max_regions 16384 (= every block)
# Needs root (or /dev/userfaultfd access).  Changes no host setting.
# Output: build/bench-tracking/results.txt
#   bench/tracking/run.sh [extra track-bench options, e.g. -p 9 -t 5]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
make -s -C "$here"
bin=$top/build/bench-tracking/track-bench
out=$top/build/bench-tracking/results.txt
{
    echo "# $(date -u +%FT%TZ) $(uname -sr), $(nproc) CPUs," \
         "$(grep 'model name' /proc/cpuinfo | head -1 | cut -d: -f2)"
    echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# command: bench/tracking/run.sh $*"
    echo
    echo "### default: -i 1000 -R 1000"
    $bin -g 1 -b 64 -i 1000 -R 1000 -t 5 -p 5 "$@"
    echo
    echo "### aggressive: -i 100 -R 16384"
    $bin -g 1 -b 64 -i 100 -R 16384 -t 5 -p 5 "$@"
    echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
} 2>&1 | tee "$out"
