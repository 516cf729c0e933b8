#!/usr/bin/python3
"""What a vCPU thread runs while the mover waits for it to stop.

    bench/mover/stop-perf.py [OUTDIR]

Runs tests/sculpt/test-auto-guest (SCULPT_QEMU picks the binary) with the
sculpt_batch and sculpt_stop_cpu trace events (-msg timestamp=on, so each
line carries the wall clock), and `perf record -k CLOCK_REALTIME -g` on
the vCPU thread (-name debug-threads=on names it "CPU 0/TCG") for the
whole run.  Then it lines the two up: for every stop that waited over
1 ms, the top frames perf sampled during the wait; over the whole run,
the samples whose call chain zero-fills a cold-file read
(zero_user_segments under ext4_mpage_readpages), and the most common such
chains.  Needs root and perf.  Output files go to OUTDIR (default
build/stop-perf).
"""

import collections
import os
import re
import subprocess
import sys
import time

TOP = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
STOP = re.compile(r"\d+@(\d+\.\d+):sculpt_stop_cpu vCPU \d+: stopped after "
                  r"(\d+) ns of waiting; thread state before (\S)")


def record(out):
    log, data = os.path.join(out, "trace.log"), os.path.join(out, "perf.data")
    env = dict(os.environ, SCULPT_QEMU_EXTRA=(
        "-name debug-threads=on -msg timestamp=on -trace sculpt_batch "
        f"-trace sculpt_stop_cpu -D {log}"))
    test = subprocess.Popen([os.path.join(TOP, "tests/sculpt/test-auto-guest")],
                            env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    tid = None
    for _ in range(300):
        for pid in os.listdir("/proc"):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if log.encode() not in f.read():
                        continue
                for t in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{t}/comm") as f:
                        if f.read().startswith("CPU 0"):
                            tid = t
            except OSError:
                continue
        if tid:
            break
        time.sleep(0.2)
    if not tid:
        test.kill()
        sys.exit("no QEMU vCPU thread found")
    perf = subprocess.Popen(["perf", "record", "-q", "-k", "CLOCK_REALTIME",
                             "-F", "4999", "-g", "-t", tid, "-o", data],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    result = test.communicate()[0]
    perf.send_signal(2)
    perf.wait()
    for ln in result.splitlines():
        if ln.startswith(("whole run", "ok:", "FAIL")):
            print(ln)
    return log, data


def samples(data):
    out = subprocess.run(["perf", "script", "-i", data, "-F",
                          "time,ip,sym,dso"], capture_output=True,
                         text=True).stdout
    for blk in out.split("\n\n"):
        lines = [x for x in blk.strip().split("\n") if x.strip()]
        m = lines and re.match(r"\s*(\d+\.\d+):", lines[0])
        if not m:
            continue
        frames = []
        for x in lines[1:]:
            f = x.strip().split(None, 1)
            frames.append((f[1] if len(f) > 1 else f[0]).split(" (")[0])
        yield float(m.group(1)), frames


def top(frames):
    if not frames or frames[0] == "[unknown]":
        return "JIT or unknown"
    return frames[0]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(TOP, "build",
                                                             "stop-perf")
    os.makedirs(out, exist_ok=True)
    log, data = record(out)
    stops = []
    with open(log, errors="replace") as f:
        for ln in f:
            m = STOP.match(ln)
            if m and int(m.group(2)) > 1000000:
                end, wait = float(m.group(1)), int(m.group(2)) / 1e9
                stops.append((end - wait, end, m.group(3)))
    smp = list(samples(data))
    zero = [fr for _, fr in smp
            if any(f.startswith("zero_user_segments") for f in fr) and
            "ext4_mpage_readpages" in fr]
    print(f"{len(smp)} samples of the vCPU thread; {len(zero)} zero-filling "
          f"a cold-file read (zero_user_segments under "
          f"ext4_mpage_readpages)")
    for chain, n in collections.Counter(
            " <- ".join(fr[:8]) for fr in zero).most_common(3):
        print(f"  {n:6d} {chain}")
    print(f"{len(stops)} stops waited over 1 ms:")
    for a, b, state in stops:
        c = collections.Counter(top(fr) for t, fr in smp if a <= t <= b)
        print(f"  {1e3 * (b - a):6.2f} ms (thread {state} when asked): "
              f"{sum(c.values())} samples, "
              + ", ".join(f"{k} {v}" for k, v in c.most_common(3)))


if __name__ == "__main__":
    main()
