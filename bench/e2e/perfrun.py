"""bench/e2e/run.py under `perf record`, for vcpu-profile.py and
fault-kinds.py: QEMU's threads named (-name ...,debug-threads=on), perf on
CLOCK_MONOTONIC so its samples line up with run.py's `t0_monotonic`, the
report and raw files in a temporary directory."""

import glob
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def record(name, perf_args, argv):
    """Run run.py with @argv under `perf record @perf_args`.  Returns
    (tmp dir, perf.data path, results by QEMU pid, timed phase by pid as
    (start, end) in CLOCK_MONOTONIC seconds), or an exit code."""
    if os.geteuid() != 0:
        print("SKIP: needs root")
        return 77
    tmp = tempfile.mkdtemp(prefix=name + ".")
    data = os.path.join(tmp, "perf.data")
    env = dict(os.environ)
    env["SCULPT_QEMU_EXTRA"] = (env.get("SCULPT_QEMU_EXTRA", "") +
                                f" -name {name},debug-threads=on")
    rc = subprocess.call(["perf", "record", "-q", "-k", "CLOCK_MONOTONIC"] +
                         perf_args + ["-o", data, "--",
                                      os.path.join(HERE, "run.py")] + argv +
                         ["--raw-dir", tmp,
                          "--out", os.path.join(tmp, "report.md")], env=env)
    if rc:
        print(f"{name}: run.py exited {rc}", file=sys.stderr)
        return rc
    with open(glob.glob(os.path.join(tmp, "*", "results.json"))[0]) as f:
        runs = {r["pid"]: r for r in json.load(f)["results"] if r.get("pid")}
    timed = {}
    for pid, r in runs.items():
        if r.get("t0_monotonic") is not None and r.get("t_result") and \
                r.get("guest_secs"):
            end = r["t0_monotonic"] + r["t_result"]
            timed[pid] = (end - r["guest_secs"], end)
    return tmp, data, runs, timed


def run_name(r):
    """A results.json run as a table row's name."""
    return (f'{r["workload"]} {r["config"]}' +
            (f' {r["budget_mib"]}M' if r.get("budget_mib") else "") +
            f' r{r["rep"]}')


def run_order(runs):
    """Runs by workload and repeat, the unconstrained one first."""
    return sorted(runs.items(), key=lambda kv: (
        kv[1]["workload"], kv[1]["rep"], kv[1]["config"] != "unconstrained"))
