#!/usr/bin/python3
"""Sample what a QEMU's vCPU threads are doing, from /proc.

    vcpu-states.py PID SECONDS

Every 0.5 ms for SECONDS, reads the state (R running, S sleeping, D
uninterruptible) and wchan (the kernel function it sleeps in) of each
vCPU thread of process PID, and prints how often each pair was seen.
vCPU threads are found by name, so start QEMU with
`-name debug-threads=on` (tests/sculpt/*: SCULPT_QEMU_EXTRA).  Used to
see where a vCPU is when the mover asks it to stop: a thread in D
inside a page fault stops only once the fault is done.
"""

import collections
import os
import sys
import time


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    pid, secs = sys.argv[1], float(sys.argv[2])
    task = f"/proc/{pid}/task"
    tids = [t for t in os.listdir(task)
            if open(f"{task}/{t}/comm").read().startswith("CPU ")]
    if not tids:
        sys.exit("no vCPU threads by name: was QEMU started with "
                 "-name debug-threads=on?")
    seen = collections.Counter()
    n = 0
    end = time.monotonic() + secs
    while time.monotonic() < end:
        for t in tids:
            try:
                with open(f"{task}/{t}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
                with open(f"{task}/{t}/wchan") as f:
                    wchan = f.read() or "0"
            except OSError:
                end = 0         # the process ended
                break
            seen[(state, wchan)] += 1
            n += 1
        time.sleep(0.0005)
    print(f"{n} samples of {len(tids)} vCPU thread(s)")
    for (state, wchan), k in seen.most_common(12):
        print(f"{100 * k / max(n, 1):6.2f}%  {state}  {wchan}")


if __name__ == "__main__":
    main()
