#!/usr/bin/python3
"""Pauses of the mover in a running guest, and where their time goes.

Boots the test guest (512 MiB on a shared memfd, memtest writing and
verifying 96 MiB without pause) with a sculpt object (64 KiB blocks, a
64 MiB memfd hot pool, a cold file), then runs --ops random sculpt-pool
moves (1-512 blocks to base, cold or hot; the hot pool is emptied before
each move to hot) with the mover's trace events on.  Prints:
  - the pause per batch as the guest sees it (from the request to stop
    the vCPUs to their resume; query-sculpt-stats counts this) and the
    part spent moving (vCPUs stopped, block I/O drained), p50/p99/max;
  - the share of batches over max-pause (default 1 ms);
  - per run: copy, remap, attributes; runs to the cold file pre-copied.
  - with --move-protocol write-protect (the default), the batches moved
    with the vCPUs running instead: their write-protect windows (from the
    protection to the wake: the longest a guest write could wait),
    p50/p99/max, the share over max-pause, and the writes that waited.
The guest must end with its memtest verified (--duration seconds).
Usage: bench/mover/pause-guest.py [--ops N] [--seed N] [--max-pause US]
                                  [--duration S] [--move-protocol P]
"""

import argparse
import os
import random
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)),
                                "..", "..", "tests", "sculpt"))
import sculptlib  # noqa: E402

BS = 64 << 10
MEM_MIB = 512
NB = MEM_MIB * 1024 * 1024 // BS
RUN_RX = re.compile(r"blocks (\d+)\+(\d+) (\d)->(\d) copy (\d+) remap (\d+) "
                    r"attrs (\d+) populate (\d+) ns precopied (\d) "
                    r"fixed (\d+)")
BATCH_RX = re.compile(r"(\d+) runs, (\d+) bytes, pause (\d+) ns, vCPUs "
                      r"stopped (\d+) ns")
WP_RX = re.compile(r"(\d+) runs, (\d+) bytes under write-protection for "
                   r"(\d+) ns \(protecting, block I/O drained: (\d+) ns, "
                   r"moving (\d+) ns\), (\d+) writes waited")


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))] if v else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", type=int, default=80)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--max-pause", type=int, default=1000)
    ap.add_argument("--per-pair", action="store_true",
                    help="also break runs down by source and destination")
    ap.add_argument("--duration", type=int, default=40,
                    help="seconds the guest's memtest runs")
    ap.add_argument("--move-protocol", default="write-protect",
                    choices=["write-protect", "pause"])
    opts = ap.parse_args()
    sculptlib.require_guest()
    work = tempfile.mkdtemp(prefix="sculpt-pause-",
                            dir=os.path.join(sculptlib.BUILD, "tmp"))
    log = os.path.join(work, "trace.log")
    cold = os.path.join(work, "cold")
    os.makedirs(cold)
    g = sculptlib.Guest(
        mem_mib=MEM_MIB, run="memtest",
        args=f"--duration {opts.duration} --mib 96",
        extra=["-object", "sculpt,id=sc0,memdev=ram0,block-size=64K,"
               "hot-pool=memfd,hot-size=64M,cold-tier=file,"
               f"cold-dir={cold},max-pause={opts.max_pause},"
               f"move-protocol={opts.move_protocol}",
               "-trace", "sculpt_move_run", "-trace", "sculpt_batch",
               "-trace", "sculpt_wp_batch", "-D", log], name="pause")
    g.echo = False
    rng = random.Random(opts.seed)
    try:
        g.launch()
        g.wait_for(r"^SCULPT-RUN", timeout=300)
        for _ in range(opts.ops):
            first = rng.randrange(NB)
            count = rng.randint(1, min(512, NB - first))
            tier = rng.choice(["base", "cold", "hot"])
            if tier == "hot":
                count = min(count, 256)
                g.qmp("sculpt-pool", id="sc0", type="move", tier="base",
                      blocks=[{"first": 0, "count": NB}])
                g.vm.event_wait("SCULPT_POOL_COMPLETED", timeout=120)
            g.qmp("sculpt-pool", id="sc0", type="move", tier=tier,
                  blocks=[{"first": first, "count": count}])
            ev = g.vm.event_wait("SCULPT_POOL_COMPLETED", timeout=120)
            assert ev["data"]["failures"] == 0, ev
        st = g.qmp("query-sculpt-stats")[0]
        g.qmp("sculpt-pool", id="sc0", type="move", tier="base",
              blocks=[{"first": 0, "count": NB}])
        g.vm.event_wait("SCULPT_POOL_COMPLETED", timeout=120)
        g.wait_for(r"^SCULPT-CHECK ", timeout=300)
        g.wait_exit(timeout=120)
    finally:
        g.shutdown()
    runs, batches, wps = [], [], []
    with open(log) as f:
        for line in f:
            m = RUN_RX.search(line)
            if m:
                runs.append(tuple(map(int, m.groups())))
            m = BATCH_RX.search(line)
            if m:
                batches.append(tuple(map(int, m.groups())))
            m = WP_RX.search(line)
            if m:
                wps.append(tuple(map(int, m.groups())))
    shutil.rmtree(work, ignore_errors=True)
    res = [r for r in g.results() if r.get("name") == "memtest"]
    print(f"# guest {MEM_MIB} MiB, accel={g.accel}, {opts.ops} random "
          f"moves (seed {opts.seed}), max-pause {opts.max_pause} us, "
          f"move-protocol {opts.move_protocol}")
    print(f"query-sculpt-stats: {st['pauses']} pauses, p50 "
          f"{st['pause-p50'] / 1e3:.0f} us, p99 {st['pause-p99'] / 1e3:.0f}"
          f" us, max {st['pause-max'] / 1e3:.0f} us; {st['wp-batches']} "
          f"batches under write-protection ({st['wp-waits']} writes "
          f"waited), window p50 {st['wp-window-p50'] / 1e3:.0f} us, p99 "
          f"{st['wp-window-p99'] / 1e3:.0f} us, max "
          f"{st['wp-window-max'] / 1e3:.0f} us; {st['moves']} runs, "
          f"{st['blocks-moved']} blocks")
    for name, rows, idx in (
            ("paused batches, moving", batches, 2),
            ("paused batches, vCPUs stopped (guest-visible, counted)",
             batches, 3),
            ("write-protected batches, window (a write waits at most this)",
             wps, 2),
            ("write-protected batches, moving", wps, 4)):
        v = [b[idx] / 1e3 for b in rows]
        if not v:
            continue
        over = sum(1 for x in v if x > opts.max_pause)
        print(f"{name}: p50 {pct(v, 50):.0f} us, p99 {pct(v, 99):.0f} us, "
              f"max {max(v):.0f} us; over max-pause in {over} of {len(v)} "
              f"batches ({100 * over / len(v):.1f}%)")
    for name, idx in (("copy", 4), ("remap", 5), ("attrs", 6)):
        v = [r[idx] / 1e3 for r in runs]
        print(f"per run {name}: p50 {pct(v, 50):.0f} us, p99 "
              f"{pct(v, 99):.0f} us, max {max(v):.0f} us")
    if opts.per_pair:
        names = {0: "base", 1: "hot", 2: "cold"}
        for pair in sorted({(r[2], r[3]) for r in runs}):
            sel = [r for r in runs if (r[2], r[3]) == pair]
            mbms = [r[1] * BS / max(1, r[4]) * 1e3 for r in sel]
            cp = [r[4] / 1e3 for r in sel]
            print(f"  {names[pair[0]]}->{names[pair[1]]}: {len(sel)} runs, "
                  f"{sum(r[1] for r in sel)} blocks, copy p50 "
                  f"{pct(cp, 50):.0f} us p99 {pct(cp, 99):.0f} us, "
                  f"copy speed p50 {pct(mbms, 50):.0f} MB/s p5 "
                  f"{pct(mbms, 5):.0f} MB/s, remap p50 "
                  f"{pct([r[5] / 1e3 for r in sel], 50):.0f} us")
    pre = [r for r in runs if r[8]]
    print(f"runs to the cold file pre-copied: {len(pre)}, bytes fixed in "
          f"the pause: {sum(r[9] for r in pre)} of "
          f"{sum(r[1] for r in pre) * BS}")
    print("guest memtest:", {k: res[-1].get(k) for k in
                             ("verified_mib", "mismatches")} if res else
          "no result")
    if (not res or res[-1].get("mismatches") != "0" or
            not any("SCULPT-CHECK ok" in ln for ln in g.lines)):
        print("FAIL: the guest's memtest did not verify")
        sys.exit(1)


if __name__ == "__main__":
    main()
