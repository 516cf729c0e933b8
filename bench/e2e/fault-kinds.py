#!/usr/bin/python3
"""Which host page faults a benchmark run's vCPU thread takes, by kind.

    bench/e2e/fault-kinds.py [run.py options]       (root, after `make`)

runs bench/e2e/run.py with those options under `perf record -e
exceptions:page_fault_user` (CLOCK_MONOTONIC; report and raw files in a
temporary directory) and counts, for each guest's vCPU thread ("CPU
0/TCG": QEMU runs with -name debug-threads=on) over the timed phase,
the faults by x86 error code: reads of pages not mapped (0x4), writes
to pages not mapped (0x6) and writes to pages mapped read-only (0x7:
for a cold-file page, the write-protection a writeback leaves, so the
store goes through the filesystem's page_mkwrite; for guest RAM under
userfaultfd write-protection, a tracked write).  For the 0x7 faults it
also prints how many distinct pages and 2 MiB blocks took them and how
often each page did: a block whose 512 pages all fault again, again and
again is being written back while the guest writes it.  With it, from
`ext4:ext4_writepages_result` (when the cold tier's filesystem is ext4):
the pages each of QEMU's threads wrote back in the timed phase, by sync
mode (0: started, as sync_file_range without WAIT; 1: waited for).
"""

import collections
import re
import subprocess
import sys

import perfrun

LINE = re.compile(r"^\s*(.+?)\s+(\d+)/(\d+)\s+([0-9.]+):\s+"
                  r"address=(0x[0-9a-f]+)\s+ip=\S+\s+error_code=(0x[0-9a-f]+)")
WB = re.compile(r"^\s*(.+?)\s+(\d+)/\d+\s+([0-9.]+):\s+.*pages_written "
                r"(\d+) .*sync_mode (\d+)")
KINDS = [("0x4", "read, not mapped"), ("0x6", "write, not mapped"),
         ("0x7", "write, read-only")]


def main():
    got = perfrun.record("fault-kinds", ["-e", "exceptions:page_fault_user",
                                         "-e", "ext4:ext4_writepages_result"],
                         sys.argv[1:])
    if isinstance(got, int):
        return got
    tmp, data, runs, timed = got
    kinds = collections.defaultdict(collections.Counter)
    written = collections.defaultdict(collections.Counter)
    wp_pages = collections.defaultdict(collections.Counter)
    out = subprocess.run(["perf", "script", "-i", data, "-F",
                          "comm,pid,tid,time,trace"],
                         capture_output=True, text=True).stdout
    for ln in out.splitlines():
        w = WB.match(ln)
        if w and int(w.group(2)) in timed and \
                timed[int(w.group(2))][0] <= float(w.group(3)) <= \
                timed[int(w.group(2))][1]:
            written[int(w.group(2))][(w.group(1), w.group(5))] += \
                int(w.group(4))
            continue
        m = LINE.match(ln)
        if not m or not m.group(1).startswith("CPU "):
            continue
        pid, t = int(m.group(2)), float(m.group(4))
        if pid not in timed or not timed[pid][0] <= t <= timed[pid][1]:
            continue
        kinds[pid][m.group(6)] += 1
        if m.group(6) == "0x7":
            wp_pages[pid][int(m.group(5), 16) >> 12] += 1
    print("\nvCPU thread's host page faults in the timed phase:\n")
    print("| run | x unconstr. | timed s | " +
          " | ".join(k + " " + d for k, d in KINDS) +
          " | 0x7: pages, 2 MiB blocks | 0x7 per page: 1 / 2-4 / 5+ |")
    print("|---|---:|---:|" + "---:|" * len(KINDS) + "---:|---|")
    for pid, r in perfrun.run_order(runs):
        name = perfrun.run_name(r)
        pages = wp_pages[pid]
        per = collections.Counter(min(n, 5) for n in pages.values())
        print(f'| {name} | {r.get("ratio") or 0:.3f} | '
              f'{r.get("guest_secs") or 0:.2f} | ' +
              " | ".join(f"{kinds[pid][k]:,}" for k, _ in KINDS) +
              f' | {len(pages):,}, {len({p >> 9 for p in pages}):,} | '
              f'{per[1]:,} / {per[2] + per[3] + per[4]:,} / {per[5]:,} |')
    print("\nPages QEMU's threads wrote back in the timed phase "
          "(ext4:ext4_writepages_result):\n")
    for pid, r in perfrun.run_order(runs):
        if written[pid]:
            print(f"- {perfrun.run_name(r)}: " + ", ".join(
                f"{who} {n:,} (sync mode {mode})"
                for (who, mode), n in sorted(written[pid].items())))
    print(f"\n(raw files in {tmp})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
