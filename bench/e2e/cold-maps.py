#!/usr/bin/python3
"""How the guest RAM mapped from sculpt's cold file is mapped, over a run.

    bench/e2e/cold-maps.py [run.py options]         (root, after `make`)

runs bench/e2e/run.py with those options (report to a temporary file)
and, every 0.5 s while a sculpt config's QEMU runs, reads its
/proc/PID/smaps: of the mappings of the cold file (the unlinked file in
the run's cold directory), how much is resident, how much of that is
mapped by PMDs (FilePmdMapped) and how much lies in mappings advised
page by page (VmFlags "nh": MADV_NOHUGEPAGE, which auto mode gives
scattered blocks and blocks moved there empty).  A guest's first store
to a cold-file page costs about 0.1-0.3 us where the page is PMD-mapped
and 2-8 us where it is mapped by PTEs (bench/mover/mkwrite-cost.c), so
this says where the stores of vcpu-profile.py's kernel seconds land.
Prints one line per sample (MiB) and a mean per run.
"""

import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def sculpt_qemus():
    """PIDs of QEMUs with an auto-mode sculpt object and a cold file."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"qemu-system-x86_64") and \
                any(b"auto=on" in a and b"cold-dir=" in a for a in cmd):
            pids.append(int(d))
    return pids


def cold_maps(pid):
    """(resident, PMD-mapped, resident in "nh" mappings) of cold-file VMAs,
    in KiB; None once the process is gone."""
    rss = pmd = nh = 0
    cold = False
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for ln in f:
                parts = ln.split()
                if not parts:
                    continue
                if "-" in parts[0] and len(parts) >= 5 and \
                        not parts[0].endswith(":"):
                    # a VMA header: "lo-hi perms off dev inode [path]"
                    path = " ".join(parts[5:])
                    cold = "bench-cold-" in path or "sculpt-cold" in path
                    vma_rss = 0
                elif cold and parts[0] == "Rss:":
                    vma_rss = int(parts[1])
                    rss += vma_rss
                elif cold and parts[0] == "FilePmdMapped:":
                    pmd += int(parts[1])
                elif cold and parts[0] == "VmFlags:":
                    if "nh" in parts[1:]:
                        nh += vma_rss
    except OSError:
        return None
    return rss, pmd, nh


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root")
        return 77
    out = tempfile.NamedTemporaryFile(suffix=".md", delete=False).name
    run = subprocess.Popen([os.path.join(HERE, "run.py")] + sys.argv[1:] +
                           ["--out", out], stdout=subprocess.DEVNULL)
    seen = {}
    while run.poll() is None:
        for pid in sculpt_qemus():
            m = cold_maps(pid)
            if m and m[0]:
                seen.setdefault(pid, []).append(m)
                print(f"pid {pid}: cold file resident {m[0] >> 10} MiB, "
                      f"PMD-mapped {m[1] >> 10} MiB, in MADV_NOHUGEPAGE "
                      f"mappings {m[2] >> 10} MiB", flush=True)
        time.sleep(0.5)
    for pid, ms in seen.items():
        n = len(ms)
        print(f"pid {pid}: {n} samples, mean cold file resident "
              f"{sum(m[0] for m in ms) / n / 1024:.0f} MiB, PMD-mapped "
              f"{sum(m[1] for m in ms) / n / 1024:.0f} MiB, in "
              f"MADV_NOHUGEPAGE mappings "
              f"{sum(m[2] for m in ms) / n / 1024:.0f} MiB")
    print(f"run.py exited {run.returncode}; its report: {out}")
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
