#!/usr/bin/python3
"""Summarise the mover's trace events from a QEMU log.

Run a guest with the mover's trace events on, for example a test:

    SCULPT_QEMU_EXTRA="-trace sculpt_batch -trace sculpt_move_run -D /tmp/t.log" \\
        tests/sculpt/test-auto-guest
    bench/mover/trace-summary.py /tmp/t.log

and it prints, over all batches in the log: how many, the bytes they
moved, and p50/p90/p99/max of the vCPU stop (sculpt_batch: from the request
to stop the vCPUs to their resume), of its two parts (the batch's moves,
which max-pause bounds, and the rest: stopping the vCPUs, draining block
I/O, resuming), of the wait for the last vCPU to stop (pause_all_vcpus():
a vCPU thread inside a host page fault, e.g. reading a cold-file page,
stops only once the fault is done) and of the time from then to the
resume (what every vCPU spends stopped at least; with one vCPU, exactly
what the batch held it beyond its own fault), of the step that prepares
the batch before it (sources read in, cold pre-copies; without the BQL, so
the guest runs meanwhile; it includes the wait, at most 5 ms, for vCPUs in
a host fault's I/O, sculpt_stop_deferred, also shown alone, and the wait
for the sculpt thread's page-table step in progress, also without the
BQL), and of the parts of each run (sculpt_move_run: copy or compare,
the remap (mmap or mremap), the attributes), in milliseconds; then how many runs were found too stale to fix inside a
pause and copied again (sculpt_move_stale).  With `-trace sculpt_stop_cpu`
as well, each vCPU's waits of over 1 ms are split by its scheduler figures
(/proc schedstat): the thread's state when the stop was asked, how much of
the wait it ran (a guest store in a long host page fault, say), waited for
a CPU, or slept.  With `-trace sculpt_wp_batch`, the batches moved
without a pause (under write-protection) get the same: their window (from
the protection to the wake: the longest a guest write to them waited), of
which the protecting (block I/O drained, BQL held) and the moving, and
how many writes waited.
"""

import re
import sys

BATCH = re.compile(r"sculpt_batch .*: (\d+) runs, (\d+) bytes, pause (\d+) ns,"
                   r" vCPUs stopped (\d+) ns"
                   r"(?:, waiting for the last to stop (\d+) ns)?"
                   r"(?:, drain (\d+) ns, resume (\d+) ns)?"
                   r"(?:, prepared (?:under the BQL )?(\d+) ns)?"
                   r"(?:, of which waiting for the page-table lock (\d+) ns)?")
RUN = re.compile(r"sculpt_move_run .* copy (\d+) remap (\d+) attrs (\d+) "
                 r"populate (\d+) ns")
WP = re.compile(r"sculpt_wp_batch .*: (\d+) runs, (\d+) bytes under "
                r"write-protection for (\d+) ns \(protecting, block I/O "
                r"drained: (\d+) ns, moving (\d+) ns\), (\d+) writes")
STALE = re.compile(r"sculpt_move_stale .* found in (\d+) ns")
DEFER = re.compile(r"sculpt_stop_deferred .* after (\d+) looks .*, (\d+) ns")
STOP = re.compile(r"sculpt_stop_cpu vCPU (\d+): stopped after (\d+) ns of "
                  r"waiting; thread state before (\S), then ran (\d+) ns "
                  r"and waited for a CPU (\d+) ns")


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p))] / 1e6 if v else 0.0


def line(label, values):
    print(f"{label:>26}: p50 {pct(values, .5):7.3f}  p90 {pct(values, .9):7.3f}"
          f"  p99 {pct(values, .99):7.3f}  max {max(values, default=0) / 1e6:7.3f}"
          f" ms  (n={len(values)})")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    stops, work, moved, copy, remap, attrs = [], [], 0, [], [], []
    waits, drains, resumes, preps, stale = [], [], [], [], []
    locks = []
    cpu_stops, defers = [], []
    wps = []
    with open(sys.argv[1], errors="replace") as f:
        for ln in f:
            m = BATCH.search(ln)
            if m:
                moved += int(m.group(2))
                stops.append(int(m.group(4)))
                work.append(int(m.group(3)))
                if m.group(5) is not None:
                    waits.append(int(m.group(5)))
                if m.group(6) is not None:
                    drains.append(int(m.group(6)))
                    resumes.append(int(m.group(7)))
                if m.group(8) is not None:
                    preps.append(int(m.group(8)))
                if m.group(9) is not None:
                    locks.append(int(m.group(9)))
                continue
            m = WP.search(ln)
            if m:
                wps.append(tuple(map(int, m.groups())))
                continue
            m = RUN.search(ln)
            if m:
                copy.append(int(m.group(1)))
                remap.append(int(m.group(2)))
                attrs.append(int(m.group(3)))
                continue
            m = STALE.search(ln)
            if m:
                stale.append(int(m.group(1)))
                continue
            m = DEFER.search(ln)
            if m:
                defers.append(int(m.group(2)))
                continue
            m = STOP.search(ln)
            if m:
                cpu_stops.append((int(m.group(2)), m.group(3),
                                  int(m.group(4)), int(m.group(5))))
    print(f"{len(stops)} batches, {moved >> 20} MiB moved")
    line("vCPUs stopped per batch", stops)
    line("of which moving", work)
    line("stop, drain, resume", [a - b for a, b in zip(stops, work)])
    if waits:
        line("waiting for the last stop", waits)
        line("all stopped until resume", [a - b for a, b in zip(stops, waits)])
    if drains:
        line("block I/O drain", drains)
        line("drain end, resume", resumes)
    if preps:
        line("prepare (guest runs)", preps)
    if locks:
        line("of which for the sculpt thread", locks)
    if defers:
        line("stop put off (vCPU in I/O)", defers)
    if wps:
        print(f"{len(wps)} batches without a pause, "
              f"{sum(w[1] for w in wps) >> 20} MiB moved, "
              f"{sum(w[5] for w in wps)} guest writes waited")
        line("write-protect window", [w[2] for w in wps])
        line("of which protecting", [w[3] for w in wps])
        line("of which moving", [w[4] for w in wps])
    if copy:
        line("run: copy or compare", copy)
        line("run: remap", remap)
        line("run: attributes", attrs)
    if stale:
        print(f"{len(stale)} runs too stale to fix in the pause, copied "
              f"again (compare cut short: p50 {pct(stale, 0.5):.3f}, max "
              f"{max(stale) / 1e6:.3f} ms)")
    slow = [c for c in cpu_stops if c[0] > 1000000]
    if cpu_stops:
        states = {}
        for c in slow:
            states[c[1]] = states.get(c[1], 0) + 1
        wait = sum(c[0] for c in slow)
        # schedstat lags up to a tick for a running thread: cap at the wait
        ran = sum(min(c[2], c[0]) for c in slow)
        queued = sum(min(c[3], c[0] - min(c[2], c[0])) for c in slow)
        print(f"{len(slow)} of {len(cpu_stops)} vCPU stops waited over 1 ms;"
              f" state when asked: " +
              ", ".join(f"{k} {v}" for k, v in sorted(states.items())))
        if wait:
            print(f"  of that wait the vCPU thread ran {100 * ran / wait:.0f}%,"
                  f" waited for a CPU {100 * queued / wait:.0f}%, slept "
                  f"{100 * (wait - ran - queued) / wait:.0f}%")


if __name__ == "__main__":
    main()
