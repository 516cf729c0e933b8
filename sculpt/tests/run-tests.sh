#!/bin/sh
# Run sculpt/tests/hostmem-test with every tier this host can offer:
# raises vm.nr_hugepages, sets shmem THP to "advise", adds a 1 GiB swap
# file if no swap is active, mounts an 8 MiB tmpfs for the ENOSPC test,
# makes a memory cgroup with a 256 MiB limit for the cgroup test, and
# puts every setting back on exit.  Needs root; without root it runs
# the test as is (tiers it cannot get are skipped with a message).
#   sculpt/tests/run-tests.sh [hostmem-test options, e.g. -s SEED -n STEPS]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
make -s -C "$here" >/dev/null
bin=$top/build/sculpt-tests/hostmem-test
colddir=${SCULPT_COLD_DIR:-/var/tmp}/sculpt-hm-test.$$
mkdir -p "$colddir"

if [ "$(id -u)" != 0 ]; then
    "$bin" -c "$colddir" "$@"; rc=$?; rmdir "$colddir"; exit $rc
fi

hp=/proc/sys/vm/nr_hugepages
thp=/sys/kernel/mm/transparent_hugepage/shmem_enabled
old_hp=$(cat $hp)
old_thp=$(sed 's/.*\[\(.*\)\].*/\1/' $thp)
swapfile=
tiny=$(mktemp -d /tmp/sculpt-tiny.XXXXXX)
memcg=

restore() {
    set +e
    mountpoint -q "$tiny" && umount "$tiny"
    rmdir "$tiny"
    [ -z "$memcg" ] || rmdir "$memcg"
    if [ -n "$swapfile" ]; then swapoff "$swapfile"; rm -f "$swapfile"; fi
    echo "$old_hp" > $hp
    echo "$old_thp" > $thp
    rm -rf "$colddir"
    echo "# restored: nr_hugepages=$(cat $hp) shmem_enabled=$(cat $thp)" \
         "swap: $(tail -n +2 /proc/swaps | wc -l) active"
}
trap restore EXIT INT TERM

echo 192 > $hp
echo advise > $thp
if [ "$(tail -n +2 /proc/swaps | wc -l)" = 0 ]; then
    swapfile=/var/tmp/sculpt-hm-test.swap.$$
    fallocate -l 1G "$swapfile" && chmod 600 "$swapfile" &&
        mkswap -q "$swapfile" && swapon "$swapfile" || swapfile=
fi
mount -t tmpfs -o size=8M sculpt-tiny "$tiny"
# cgroup v1's memory hierarchy, else v2's (the memory controller enabled
# for the root's children)
if [ -d /sys/fs/cgroup/memory ]; then
    memcg=/sys/fs/cgroup/memory/sculpt-hm-test.$$
    mkdir "$memcg" && echo 256M > "$memcg/memory.limit_in_bytes" || memcg=
elif grep -qw memory /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
    memcg=/sys/fs/cgroup/sculpt-hm-test.$$
    mkdir "$memcg" && echo 256M > "$memcg/memory.max" || memcg=
fi
echo "# nr_hugepages=$(cat $hp) (was $old_hp), shmem_enabled=advise" \
     "(was $old_thp), swap file: ${swapfile:-none added}, tiny tmpfs: $tiny," \
     "memory cgroup: ${memcg:-none}"
"$bin" -c "$colddir" -t "$tiny" ${memcg:+-m "$memcg"} "$@"
