#!/usr/bin/python3
"""Record tracking traces from the test guest, then replay every policy.

Boots the 1 GiB test guest (TCG here) once per workload with
`-object sculpt,...,track=on,interval=250,trace-file=...` (64 KiB blocks,
the dirty log: vCPU writes), lets the workload run to its end, and then
runs the core's replay tool over the recorded traces at fast capacity
2/5/10/25/50 % of RAM, as bench/core/make-tables.sh does for the synthetic
traces.  Output: build/core/guest-traces/*.sctrace and
bench/core/guest-traces.md.
Usage: bench/core/record-guest-traces.py [--replay-only]

TCG timing makes every recording differ.  --replay-only skips the
recording and replays the traces already in build/core/guest-traces (the
replay is deterministic), e.g. to judge a policy change on the same traces.
"""

import os
import subprocess
import sys

TOP = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "sculpt"))
import sculptlib  # noqa: E402

WORKLOADS = [
    ("phases-cycle", "phases", "--ops 1000000 --cycles 2 --seed 1"),
    ("phases-recurring", "phases",
     "--order recurring --ops 1000000 --cycles 2 --seed 1"),
    ("kvstore", "kvstore", "--mib 256 --ops 4000000 --seed 1"),
    ("scanhot", "scanhot", "--mib 256 --hot-mib 16 --ops 8000000 --seed 1"),
    ("hotset-shift", "hotset", "--mib 256 --hot-mib 32 --access write "
     "--duration 20 --shift-secs 5 --seed 1"),
]
REPLAY = ["--table", "--details", "--capacity", "2,5,10,25,50",
          "--move-budget", "10", "--seed", "1"]


def main():
    replay_only = sys.argv[1:] == ["--replay-only"]
    if sys.argv[1:] and not replay_only:
        sys.exit(__doc__)
    core = os.path.join(TOP, "build", "core")
    outdir = os.path.join(core, "guest-traces")
    if replay_only and not os.path.isdir(outdir):
        sys.exit(f"{outdir}: no recorded traces; run without --replay-only")
    if not replay_only:
        sculptlib.require_guest()
        os.makedirs(outdir, exist_ok=True)
    for name, run, args in [] if replay_only else WORKLOADS:
        path = os.path.join(outdir, name + ".sctrace")
        g = sculptlib.Guest(mem_mib=1024, run=run, args=args, name=name,
                            extra=["-object", "sculpt,id=sc0,memdev=ram0,"
                                   "block-size=64K,track=on,interval=250,"
                                   f"trace-file={path}"])
        g.echo = False
        g.launch()
        try:
            g.wait_for(r"^SCULPT-RUN", timeout=300)
            g.wait_for(r"^SCULPT-RESULT ", timeout=1200)
            intervals = g.qmp("query-sculpt-stats")[0]["tracking"][
                "intervals"]
            # The guest powers off; QEMU's cleanup closes the trace file.
            g.wait_exit(timeout=300)
        finally:
            g.shutdown()
        res = g.results()
        print(f"{name}: {run} {args}: intervals={intervals} "
              f"{'ok' if 'SCULPT-CHECK ok' in g.lines else 'FAILED'} "
              f"ops/s={res[-1].get('ops_per_s') if res else '?'}",
              flush=True)
    subprocess.run(["ninja", "-C", core, "sculpt-replay"], check=True,
                   stdout=subprocess.DEVNULL)
    traces = sorted(os.path.join("guest-traces", f)
                    for f in os.listdir(outdir) if f.endswith(".sctrace"))
    table = subprocess.run([os.path.join(core, "sculpt-replay")] + REPLAY +
                           traces, cwd=core, check=True, text=True,
                           capture_output=True).stdout
    md = os.path.join(TOP, "bench", "core", "guest-traces.md")
    with open(md, "w") as f:
        f.write("# sculpt-core: hit ratio on traces recorded from the test "
                "guest\n\nProduced by `bench/core/record-guest-traces.py`: "
                "the 1 GiB test guest under TCG, 64 KiB blocks, 250 ms "
                "intervals, tracking by the dirty log (vCPU writes only: "
                "reads, e.g. kvstore's gets, are not in these traces).  "
                "Replay, in build/core:\n\n    sculpt-replay " +
                " ".join(REPLAY) + " guest-traces/*.sctrace\n\n"
                "Workloads:\n\n")
        for name, run, args in WORKLOADS:
            f.write(f"- `{name}`: `sculpt-work {run} {args}`\n")
        f.write("\n" + table)
    print(f"wrote {md}")


if __name__ == "__main__":
    main()
