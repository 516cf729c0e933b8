#!/usr/bin/python3
"""Where a benchmark run's vCPU time goes, config by config.

    bench/e2e/vcpu-profile.py [run.py options]      (root, after `make`)

for example

    bench/e2e/vcpu-profile.py --workloads phases-cycle \\
        --configs unconstrained,sculpt --guest-ticker 250 --interval 250

runs bench/e2e/run.py with those options under `perf record` (its report
and raw files go to a temporary directory; its own table is printed too)
and then, for each guest it booted, splits the samples of the vCPU thread
(QEMU runs with -name debug-threads=on so the thread is "CPU 0/TCG") into
seconds on a host CPU:

  JIT        the guest's translated code
  softmmu    TCG's out-of-line loads and stores and TLB refills
             (do_ld_*, do_st_*, mmu_*, tlb_*, probe_access*, victim_tlb_hit)
  dirty log  notdirty_write() (the first store to a page after each
             dirty-log sync), cpu_physical_memory_get_dirty(),
             find_next_bit() (each TLB fill's dirty checks)
  translate  translating guest code (tcg_*, tb_*, liveness_*, gen_*...)
  kernel     in the host kernel (page faults: cold-file reads, first
             writes to file pages, zeroing)
  other      the rest of QEMU (helpers, device emulation, locks)

Two tables: the timed phase alone (the workload's `secs`, which its ops/s
and run.py's ratios come from; perf runs on CLOCK_MONOTONIC, run.py notes
when the result line came), where the phase's seconds minus the vCPU's
are what it waited (I/O, pauses, holds); and the whole run, boot and the
workload's buffer fill included.  The sculpt thread's seconds are
printed too.
"""

import collections
import re
import subprocess
import sys

import perfrun

RATE = 499
LINE = re.compile(r"^\s*(.+?)\s+(\d+)/(\d+)\s+([0-9.]+):\s+[0-9a-f]+\s+"
                  r"(.*?)\s+\((.*)\)$")
CATS = [
    ("dirty log", re.compile(r"^(notdirty_write|cpu_physical_memory_get_dirty"
                             r"|find_next_bit)")),
    ("softmmu", re.compile(r"^(do_ld|do_st|helper_ld|helper_st|mmu_|tlb_|"
                           r"probe_access|victim_tlb_hit|x86_cpu_tlb_fill|"
                           r"get_physical_address|ptw_|store_atom|load_atom|"
                           r"address_space_translate)")),
    ("translate", re.compile(r"^(tcg_|tb_|liveness_|gen_|i386_tr_|"
                             r"init_ts_info|la_|reachable_code|"
                             r"page_collection|q_tree|translator_)")),
]
ORDER = ["JIT", "softmmu", "dirty log", "translate", "kernel", "other"]


def category(sym, dso):
    if "JIT" in dso or dso.startswith("/tmp/perf-"):
        return "JIT"
    if "kernel" in dso:
        return "kernel"
    for name, rx in CATS:
        if rx.match(sym):
            return name
    return "other"


def main():
    got = perfrun.record("vcpu-profile", ["-F", str(RATE)], sys.argv[1:])
    if isinstance(got, int):
        return got
    tmp, data, runs, timed = got
    vcpu = {"timed": collections.defaultdict(collections.Counter),
            "whole": collections.defaultdict(collections.Counter)}
    sculpt = {"timed": collections.Counter(), "whole": collections.Counter()}
    out = subprocess.run(["perf", "script", "-i", data, "-F",
                          "comm,pid,tid,time,ip,sym,dso"],
                         capture_output=True, text=True).stdout
    for ln in out.splitlines():
        m = LINE.match(ln)
        if not m or int(m.group(2)) not in runs:
            continue
        comm, pid = m.group(1), int(m.group(2))
        t, sym, dso = float(m.group(4)), m.group(5), m.group(6)
        spans = ["whole"]
        if pid in timed and timed[pid][0] <= t <= timed[pid][1]:
            spans.append("timed")
        for span in spans:
            if comm.startswith("CPU "):
                vcpu[span][pid][category(sym, dso)] += 1
            elif comm == "sculpt":
                sculpt[span][pid] += 1
    order = perfrun.run_order(runs)
    for span, title, wall in (
            ("timed", "the timed phase", lambda r: r.get("guest_secs")),
            ("whole", "the whole run", lambda r: r.get("wall_s"))):
        print(f"\nvCPU thread, seconds on a host CPU over {title} "
              f"(perf at {RATE} Hz):\n")
        print("| run | ops/s | x unconstr. | wall s | vCPU s | " +
              " | ".join(ORDER) + " | waited s | sculpt thread s |")
        print("|---|---:|---:|---:|---:|" + "---:|" * len(ORDER) + "---:|---:|")
        for pid, r in order:
            c = vcpu[span][pid]
            name = perfrun.run_name(r)
            w = wall(r) or 0
            on = sum(c.values()) / RATE
            print(f'| {name} | {r.get("ops_per_s") or 0:,.0f} | '
                  f'{r.get("ratio") or 0:.3f} | {w:.2f} | {on:.2f} | ' +
                  " | ".join(f"{c[k] / RATE:.2f}" for k in ORDER) +
                  f" | {w - on:.2f} | {sculpt[span][pid] / RATE:.2f} |")
    print(f"\n(raw files in {tmp})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
