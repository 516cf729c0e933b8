#!/usr/bin/python3
"""Tracking cost: host CPU and guest slowdown, tracking on against off.

For each tracking setting, boots the 1 GiB test guest (TCG here) running
field.md's phases workload (six 96 MiB regions, random 8-byte
read-modify-writes) in repeated pairs: once without tracking, once with a
sculpt object tracking (track=on, the setting's interval), alternating
which goes first.  Reports:
  - host CPU of tracking: the main loop reading the dirty log plus the
    sculpt thread's model time (thread CPU clocks, from query-sculpt-stats;
    with access-sampling=on it includes arming the samples) plus the
    sampler's fault thread, as % of one core over the workload's run;
  - guest throughput with tracking / without, per pair, and the spread.
With --concurrent the two guests of a pair run at the same time, each
pinned to one core (all of its QEMU's threads, the tracking ones
included, so their CPU is charged to the tracked guest), and the cores
swap from pair to pair: both sides of a ratio see the same machine at
the same moment, which removes most of the drift between runs that
sequential pairs suffer under TCG.
With --guest-ticker MS every guest runs a process that wakes every MS ms:
under TCG its page-table switches let QEMU grow its software TLB to the
working set (bench/e2e/README.md, Caveats); without it the lone workload
misses that TLB on nearly every access, which hides costs such as the
dirty log's behind a slow guest, and a setting that switches the dirty
log (track-duty) flushes the TLB and speeds its guest up instead.
Usage: bench/tracking/dirty-log-bench.py [--pairs N] [--ops N]
           [--settings I,J] [--concurrent] [--guest-ticker MS]
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)),
                                "..", "..", "tests", "sculpt"))
import sculptlib  # noqa: E402

# (label, sculpt properties); None: no sculpt object
SETTINGS = [("default (interval=1000 ms)", "interval=1000"),
            ("duty-cycled (interval=1000 ms, track-duty=25)",
             "interval=1000,track-duty=25"),
            ("aggressive (interval=100 ms)", "interval=100"),
            ("reads sampled (interval=1000 ms, access-sampling=on)",
             "interval=1000,access-sampling=on"),
            ("reads sampled, aggressive (interval=100 ms, "
             "access-sampling=on)", "interval=100,access-sampling=on")]


def pin(pid, cpu):
    """Pin every thread of process @pid to @cpu."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), {cpu})
        except OSError:
            pass                # the thread just ended


GUEST_APPEND = ""


def launch(props, args, name):
    extra = []
    if props:
        extra = ["-object", "sculpt,id=sc0,memdev=ram0,block-size=64K,"
                 f"track=on,{props}"]
    g = sculptlib.Guest(mem_mib=1024, run="phases", args=args, extra=extra,
                        name=name, append=GUEST_APPEND)
    g.echo = False
    g.launch()
    return g


def measure(g, props, cpu_pin=None):
    cpu = None
    try:
        g.wait_for(r"^SCULPT-RUN", timeout=300)
        if cpu_pin is not None:
            pin(g.vm.get_pid(), cpu_pin)    # threads started since, too
        t0 = time.monotonic()
        last = None
        while True:
            try:
                g.wait_for(r"^SCULPT-RESULT ", timeout=1)
                break
            except TimeoutError:
                if props:
                    last = g.qmp("query-sculpt-stats")[0]["tracking"]
        wall = time.monotonic() - t0
        if props and last:
            # the sampler's arming is in model-time; its fault thread
            # is a thread of its own
            fault = last.get("sampling", {}).get("fault-time", 0)
            cpu = (last["harvest-time"] + last["model-time"] + fault) / \
                1e9 / wall
        g.wait_exit(timeout=120)
    finally:
        g.shutdown()
    res = g.results()[-1]
    return float(res["ops_per_s"]), cpu


def run(props, args):
    return measure(launch(props, args, "bench"), props)


def run_concurrent(props, args, i):
    """Both guests of pair @i at once, off on core i % 2, on on the other.
    The tracked one is measured in a thread of its own."""
    import threading

    cores = sorted(os.sched_getaffinity(0))[:2]
    off_core, on_core = cores[i % 2], cores[(i + 1) % 2]
    goff = launch(None, args, "off")
    gon = launch(props, args, "on")
    pin(goff.vm.get_pid(), off_core)
    pin(gon.vm.get_pid(), on_core)
    out = {}

    def side(key, g, p, core):
        try:
            out[key] = measure(g, p, core)
        except Exception as e:          # noqa: BLE001 (reported below)
            out[key] = e

    ts = [threading.Thread(target=side, args=("off", goff, None, off_core)),
          threading.Thread(target=side, args=("on", gon, props, on_core))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for k in ("off", "on"):
        if isinstance(out[k], Exception):
            raise out[k]
    return {None: out["off"], props: out["on"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--ops", type=int, default=1000000)
    ap.add_argument("--concurrent", action="store_true",
                    help="run each pair's two guests at once, one per core")
    ap.add_argument("--settings", default="",
                    help="comma-separated indexes into SETTINGS (default all)")
    ap.add_argument("--guest-ticker", type=int, default=0, metavar="MS",
                    help="a process in every guest waking every MS ms "
                    "(TCG's TLB then holds the working set)")
    opts = ap.parse_args()
    global GUEST_APPEND
    if opts.guest_ticker:
        GUEST_APPEND = f"sculpt.ticker={opts.guest_ticker}"
    sculptlib.require_guest()
    args = f"--ops {opts.ops} --cycles 2 --seed 1"
    print(f"# guest: 1 GiB, accel={sculptlib.pick_accel()}, "
          f"workload: phases {args}; {opts.pairs} pairs per setting"
          + (", each pair run at once on two pinned cores"
             if opts.concurrent else "")
          + (f", guest ticker every {opts.guest_ticker} ms"
             if opts.guest_ticker else ""))
    pick = [int(i) for i in opts.settings.split(",")] if opts.settings \
        else range(len(SETTINGS))
    for label, interval in [SETTINGS[i] for i in pick]:
        ratios, cpus = [], []
        for i in range(opts.pairs):
            if opts.concurrent:
                r = run_concurrent(interval, args, i)
            else:
                order = [None, interval] if i % 2 == 0 else [interval, None]
                r = {}
                for iv in order:
                    r[iv] = run(iv, args)
            ratios.append(r[interval][0] / r[None][0])
            cpus.append(r[interval][1] * 100)
            print(f"  {label} pair {i}: off {r[None][0]:.0f} ops/s, on "
                  f"{r[interval][0]:.0f} ops/s, ratio {ratios[-1]:.4f}, "
                  f"tracking CPU {cpus[-1]:.3f}% of a core", flush=True)
        print(f"{label}: throughput on/off median {statistics.median(ratios):.4f}"
              f" [min {min(ratios):.4f} .. max {max(ratios):.4f}], "
              f"slowdown {(1 - statistics.median(ratios)) * 100:.2f}%; "
              f"tracking CPU median {statistics.median(cpus):.3f}% of a core "
              f"[{min(cpus):.3f} .. {max(cpus):.3f}]", flush=True)


if __name__ == "__main__":
    main()
