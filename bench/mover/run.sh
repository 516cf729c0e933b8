#!/bin/sh
# Mover benchmark: builds bench/mover/move-bench and runs it three times,
# once per hot-pool kind, on a 1 GiB guest at 64 KiB and 2 MiB blocks:
#   memfd    host defaults (shmem_enabled as found, normally "never")
#   thp      shmem_enabled=advise for the run (the guest memfd gets THP
#            too, as QEMU advises MADV_HUGEPAGE on guest RAM)
#   hugetlb  vm.nr_hugepages raised to 1100 for the run (2 MiB only)
# Every host setting it changes is restored on exit.  Needs root for thp
# and hugetlb (skipped otherwise).  Output: build/bench-mover/results.txt
#   bench/mover/run.sh [move-bench options, default: -r 5]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
make -s -C "$here"
bin=$top/build/bench-mover/move-bench
out=$top/build/bench-mover/results.txt
colddir=${SCULPT_COLD_DIR:-/var/tmp}
args=${*:--r 5}

hp=/proc/sys/vm/nr_hugepages
thp=/sys/kernel/mm/transparent_hugepage/shmem_enabled
old_hp=$(cat $hp)
old_thp=$(sed 's/.*\[\(.*\)\].*/\1/' $thp)
restore() {
    [ "$(id -u)" = 0 ] || return 0
    echo "$old_hp" > $hp
    echo "$old_thp" > $thp
}
trap restore EXIT INT TERM

{
    echo "# $(date -u +%FT%TZ) $(uname -sr), $(nproc) CPUs," \
         "$(grep 'model name' /proc/cpuinfo | head -1 | cut -d: -f2)"
    echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)," \
         "shmem_enabled=$old_thp nr_hugepages=$old_hp," \
         "swap: $(tail -n +2 /proc/swaps | wc -l) active"
    echo "# command: bench/mover/run.sh $args (cold dir $colddir)"
    echo
    echo "### hot pool: memfd"
    $bin -k memfd -c "$colddir" $args
    if [ "$(id -u)" = 0 ]; then
        echo advise > $thp
        echo
        echo "### hot pool: thp (shmem_enabled=advise)"
        $bin -k thp -c "$colddir" $args
        echo "$old_thp" > $thp
        echo 1100 > $hp
        echo
        echo "### hot pool: hugetlb (nr_hugepages=$(cat $hp))"
        $bin -k hugetlb -B 2048 -c "$colddir" $args
        echo "$old_hp" > $hp
    else
        echo "### thp and hugetlb skipped: not root"
    fi
    echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
} 2>&1 | tee "$out"
