#!/usr/bin/python3
#
# bench/e2e/run.py: the end-to-end benchmark of qemu-sculpt
#
# Copyright (c) 2025 qemu-sculpt contributors
#
# SPDX-License-Identifier: GPL-2.0-or-later
#
"""End to end: a guest workload under a DRAM budget, sculpt against the kernel.

For each workload, in one run and side by side, boots the 1 GiB test guest
(RAM on memory-backend-memfd,share=on; TCG here) as:
  unconstrained   no limit, in a fresh memory cgroup so QEMU's own overhead
                  (peak cgroup usage minus the memfd's shmem pages) is measured
  kernel          the same fork, no sculpt object, in a cgroup v1 child with
                  memory.limit_in_bytes = budget + overhead, swap on
  sculpt          same limit, -object sculpt,auto=on,fast-budget=BUDGET,
                  cold-tier=file,...,policy=guarded
  sculpt-recency  the same with policy=recency
and reports throughput, p99 latency and DRAM used as ratios against the
unconstrained run, checking that every run's checksum equals the
unconstrained one (a mismatch is a FAIL and the exit status is 1).

It pins the baseline as docs/design.md says: a swap file on the root ext4
disk (where the cold tier also lives), zswap off, page-cluster and THP left
as they are.  Everything it changes (swap file on, zswap, cgroups, the cold
directory) is put back at exit, also on Ctrl-C, SIGTERM or an exception; a
swap file that already existed and was on is left alone.  Never kills any
process but the QEMUs it started, by PID.  Needs root and cgroup v1's memory
controller.

See bench/e2e/README.md.  Usage: bench/e2e/run.py --help
"""

import argparse
import atexit
import datetime
import hashlib
import json
import math
import os
import platform
import re
import select
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)),
                                "..", "..", "tests", "sculpt"))
import sculptlib  # noqa: E402
from qemu.machine.machine import VMLaunchFailure  # noqa: E402

MiB = 1 << 20
TOP = sculptlib.TOP
CACHE = os.environ.get("SCULPT_CACHE", "/var/cache/qemu-sculpt")
CGROUP_V1 = "/sys/fs/cgroup/memory"
SAMPLE_S = 0.1

# name -> (sculpt-work command, arguments).  All op-count bound, so the
# checksum is a pure function of the arguments (and equals a native run's).
# phases: field.md's workload (6 x 96 MiB = 576 MiB, 2,000,000 ops a step,
# 3 cycles).  kvstore: a 512 MiB table, Zipf 0.99 keys scrambled over it.
# scanhot: a 512 MiB buffer, a 32 MiB hot region, half the ops a sequential
# scan: 32,000,000 ops sweep the other 480 MiB twice.
WORKLOADS = {
    "phases-cycle": ("phases", "--order cycle --phases 6 --phase-mib 96 "
                     "--ops 2000000 --cycles 3 --seed 1"),
    "phases-recurring": ("phases", "--order recurring --phases 6 "
                         "--phase-mib 96 --ops 2000000 --cycles 3 --seed 1"),
    "kvstore": ("kvstore", "--mib 512 --ops 2000000 --theta 0.99 "
                "--get-pct 90 --seed 1"),
    "scanhot": ("scanhot", "--mib 512 --hot-mib 32 --scan-pct 50 "
                "--ops 32000000 --seed 1"),
}
CONFIGS = ["unconstrained", "kernel", "sculpt", "sculpt-recency"]
SCULPT_POLICY = {"sculpt": "guarded", "sculpt-recency": "recency"}
SLOWDOWN_OK = 0.95      # "within 5% of unconstrained"


def log(msg):
    print(f"e2e: {msg}", file=sys.stderr, flush=True)


def read_file(path, default=None):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        if default is not None:
            return default
        raise


def write_file(path, value):
    with open(path, "w") as f:
        f.write(str(value))


def vmstat():
    out = {}
    for line in read_file("/proc/vmstat").splitlines():
        k, v = line.split()
        out[k] = int(v)
    return out


def cpu_steal_s():
    """Seconds this machine's CPUs waited for the hypervisor (/proc/stat
    steal), summed over CPUs: another tenant's load shows here."""
    f = read_file("/proc/stat").splitlines()[0].split()
    return int(f[8]) / os.sysconf("SC_CLK_TCK") if len(f) > 8 else 0.0


def mib(x):
    return None if x is None else x / MiB


# --- host state: everything the benchmark changes, and its undoing ----------

class Host:
    """Swap, zswap, cgroups, cold directory and QEMU children of this run.

    cleanup() undoes all of it and may be called any number of times (from
    the finally of main, from atexit, after a signal).
    """

    def __init__(self, swap_path, swap_mib):
        self.swap_path = swap_path
        self.swap_mib = swap_mib
        self.swap_created = False   # we created the file: remove it
        self.swap_enabled = False   # we ran swapon: swapoff
        self.zswap_saved = None     # value to write back
        self.ra_saved = None        # (read_ahead_kb path, value to restore)
        self.cgroups = []           # Cgroup objects still to remove
        self.vms = []               # QEMUMachines still to kill
        self.cold_dir = None
        self.notes = []             # what was set up, for the report
        self.parent = self._own_cgroup()
        self.done = False

    @staticmethod
    def _own_cgroup():
        for line in read_file("/proc/self/cgroup").splitlines():
            _, ctrls, path = line.split(":", 2)
            if "memory" in ctrls.split(","):
                d = os.path.join(CGROUP_V1, path.lstrip("/"))
                if os.path.exists(os.path.join(d, "memory.limit_in_bytes")):
                    return d
        raise SystemExit("e2e: no cgroup v1 memory controller for this "
                         "process (/proc/self/cgroup, " + CGROUP_V1 + ")")

    # swap file on the root filesystem (same disk as the cold tier)
    @staticmethod
    def active_swaps():
        lines = read_file("/proc/swaps", "").splitlines()[1:]
        return [ln.split()[0] for ln in lines if ln.strip()]

    def swap_on(self):
        path = os.path.realpath(self.swap_path)
        if path in self.active_swaps():
            self.notes.append(f"swap file {path} was already on: left as is")
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not os.path.exists(path):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            self.swap_created = True
            try:
                # swapon refuses files with holes: allocate every block now
                os.posix_fallocate(fd, 0, self.swap_mib * MiB)
            finally:
                os.close(fd)
            subprocess.run(["mkswap", path], check=True,
                           stdout=subprocess.DEVNULL)
        r = subprocess.run(["swapon", path], capture_output=True, text=True)
        if r.returncode != 0 and not self.swap_created:
            # an old file without a swap signature: give it one
            subprocess.run(["mkswap", path], check=True,
                           stdout=subprocess.DEVNULL)
            r = subprocess.run(["swapon", path], capture_output=True,
                               text=True)
        if r.returncode != 0:
            raise RuntimeError(f"swapon {path} failed: {r.stderr.strip()}")
        self.swap_enabled = True
        size = os.path.getsize(path) // MiB
        self.notes.append(f"swap file {path} ({size} MiB, "
                          f"{'created' if self.swap_created else 'existing'})"
                          " turned on for this run")

    def zswap_off(self):
        p = "/sys/module/zswap/parameters/enabled"
        cur = read_file(p, "")
        if cur in ("Y", "1"):
            write_file(p, "N")
            self.zswap_saved = cur
            self.notes.append("zswap was on: turned off for this run")
        elif cur:
            self.notes.append("zswap off (already)")
        else:
            self.notes.append("zswap not present")

    def read_ahead(self, kb):
        """The read_ahead_kb of the disk under CACHE (the cold file's and
        the swap file's): the size of the kernel's mmap read-around, so of
        every cold-file page-in that sculpt did not prefetch.  Set it to
        @kb for this run if not None; note it either way."""
        st = os.stat(CACHE)
        base = f"/sys/dev/block/{os.major(st.st_dev)}:{os.minor(st.st_dev)}"
        p = os.path.join(base, "queue", "read_ahead_kb")
        if not os.path.exists(p):           # a partition: its disk's queue
            p = os.path.join(base, "..", "queue", "read_ahead_kb")
        cur = read_file(p, "")
        if not cur:
            self.notes.append(f"read_ahead_kb of {CACHE}'s disk: not found")
            return
        if kb is not None and str(kb) != cur:
            write_file(p, str(kb))
            self.ra_saved = (p, cur)
            self.notes.append(f"read_ahead_kb of {CACHE}'s disk set to {kb} "
                              f"for this run (was {cur})")
        else:
            self.notes.append(f"read_ahead_kb of {CACHE}'s disk: {cur}")

    def make_cold_dir(self):
        d = os.path.join(CACHE, f"bench-cold-{os.getpid()}")
        os.makedirs(d, exist_ok=True)
        self.cold_dir = d
        return d

    def kill_vms(self):
        for vm in list(self.vms):
            try:
                if vm.is_running():
                    pid = vm.get_pid()
                    log(f"killing QEMU pid {pid} (ours)")
                    vm.kill()
            except Exception as e:  # noqa: BLE001 (best effort at exit)
                log(f"warning: could not stop a QEMU: {e}")
            self.vms.remove(vm)

    def cleanup(self):
        if self.done:
            return
        self.done = True
        self.kill_vms()
        for cg in list(self.cgroups):
            cg.remove()
        if self.swap_enabled:
            r = subprocess.run(["swapoff", self.swap_path],
                               capture_output=True, text=True)
            if r.returncode != 0:
                log(f"warning: swapoff {self.swap_path}: {r.stderr.strip()}")
            else:
                self.swap_enabled = False
        if self.swap_created and not self.swap_enabled:
            try:
                os.unlink(self.swap_path)
            except OSError as e:
                log(f"warning: could not remove {self.swap_path}: {e}")
        if self.zswap_saved is not None:
            write_file("/sys/module/zswap/parameters/enabled",
                       self.zswap_saved)
        if self.ra_saved is not None:
            write_file(*self.ra_saved)
        if self.cold_dir:
            shutil.rmtree(self.cold_dir, ignore_errors=True)


class Cgroup:
    """A fresh cgroup v1 memory child of this process's own cgroup."""

    seq = 0

    def __init__(self, host, limit_bytes=None):
        Cgroup.seq += 1
        self.host = host
        self.path = os.path.join(host.parent, f"sculpt-bench-{os.getpid()}-"
                                 f"{Cgroup.seq}")
        os.mkdir(self.path)
        host.cgroups.append(self)
        if limit_bytes is not None:
            # memory.memsw.limit_in_bytes stays unlimited: swap is allowed
            write_file(self.f("memory.limit_in_bytes"), limit_bytes)
        self.procs = self.f("cgroup.procs")

    def f(self, name):
        return os.path.join(self.path, name)

    def usage(self):
        return int(read_file(self.f("memory.usage_in_bytes")))

    def stat(self):
        out = {}
        for line in read_file(self.f("memory.stat")).splitlines():
            k, v = line.split()
            out[k] = int(v)
        return out

    def remove(self):
        if not sculptlib.remove_cgroup(self.path):
            log(f"warning: could not remove cgroup {self.path}")
        if self in self.host.cgroups:
            self.host.cgroups.remove(self)


# --- one boot of the guest ---------------------------------------------------

class Skip(Exception):
    pass


class BenchGuest(sculptlib.Guest):
    """sculptlib's guest, started inside a cgroup (so every page QEMU ever
    touches is charged there)."""

    def __init__(self, cgroup, **kw):
        kw.setdefault("name", "bench")
        super().__init__(cgroup_procs=cgroup.procs, **kw)
        self.echo = False

    def read_lines(self, timeout):
        """Lines that arrived within @timeout s; None at end of console."""
        sock = self.vm.console_socket
        r, _, _ = select.select([sock], [], [], max(0.0, timeout))
        if r:
            data = sock.recv(65536)
            if not data:
                return None
            self._buf += data
        out = []
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            text = line.decode(errors="replace").rstrip("\r")
            i = text.find("SCULPT-")     # firmware escapes may precede it
            if i > 0:
                text = text[i:]
            self.lines.append(text)
            out.append(text)
        return out


def kv(line):
    return dict(x.split("=", 1) for x in line.split()[1:] if "=" in x)


def find_dram(stats, prefix=""):
    """Numeric fields whose name says DRAM (e.g. dram-in-use) anywhere in a
    query-sculpt-stats entry; the plan-only dram-delta is not one."""
    out = {}
    if isinstance(stats, dict):
        for k, v in stats.items():
            name = f"{prefix}{k}"
            if isinstance(v, (dict, list)):
                out.update(find_dram(v, name + "."))
            elif (isinstance(v, (int, float)) and not isinstance(v, bool)
                  and "dram" in k and "delta" not in k):
                out[name] = v
    elif isinstance(stats, list):
        for i, v in enumerate(stats):
            out.update(find_dram(v, f"{prefix}{i}."))
    return out


def tier_bytes(stats):
    t = {}
    for e in stats.get("tiers") or []:
        if isinstance(e, dict) and "tier" in e:
            t[e["tier"]] = e.get("bytes")
    return t


def sculpt_props(opts, host, config, budget):
    """The sculpt object of the sculpt configs: automatic mode keeping guest
    RAM under the budget, cold tier a file on the root disk (the swap file's
    disk), tracking on."""
    props = (f"sculpt,id=sc0,memdev=ram0,auto=on,fast-budget={budget}M,"
             f"cold-tier=file,cold-dir={host.cold_dir},"
             f"cold-size={opts.mem_mib}M,track=on,interval={opts.interval},"
             f"policy={SCULPT_POLICY[config]}")
    if opts.sculpt_opts:
        props += "," + opts.sculpt_opts
    return props


def run_once(host, opts, wl, config, budget, limit_mib, rep, accel, logdir):
    """Boot the guest once; return a dict of everything measured."""
    run, args = WORKLOADS[wl]
    args = scale_ops(args, opts.ops_scale)
    extra = []
    if config in SCULPT_POLICY:
        extra = ["-object", sculpt_props(opts, host, config, budget)]
    st = os.stat(sculptlib.qemu_binary())
    res = {"workload": wl, "config": config, "rep": rep,
           "qemu_mtime": st.st_mtime,
           "budget_mib": budget if config != "unconstrained" else None,
           "limit_mib": limit_mib, "run": run, "args": args,
           "qemu_args": extra, "status": "error", "samples": [],
           "sculpt_samples": []}
    tag = f"{wl}-{config}" + (f"-{budget}M" if budget else "") + f"-r{rep}"
    limit = limit_mib * MiB if limit_mib else None
    cg = Cgroup(host, limit)
    res["cgroup"] = cg.path
    append = (f"sculpt.ticker={opts.guest_ticker}" if opts.guest_ticker
              else "")
    g = BenchGuest(cg, mem_mib=opts.mem_mib, run=run, args=args, extra=extra,
                   append=append, name=f"e2e-{os.getpid()}", accel=accel)
    vs0 = vmstat()
    steal0 = cpu_steal_s()
    t0 = time.monotonic()
    try:
        try:
            g.launch()
        except VMLaunchFailure as e:
            out = (e.output or "").strip()
            m = re.search(r"(Invalid parameter '[^']+'|Property '[^']+' "
                          r"not found|Parameter '[^']+' [^\n]*)", out)
            if config in SCULPT_POLICY and m:
                raise Skip(f"QEMU rejects the sculpt object: {m.group(1)} "
                           f"(this build lacks auto/fast-budget/policy)")
            res["error"] = f"QEMU failed to start: {out[-500:]}"
            return res
        host.vms.append(g.vm)
        pid = g.vm.get_pid()
        res["pid"] = pid
        polling = config in SCULPT_POLICY
        deadline = t0 + opts.timeout
        next_sample = t0
        next_poll = t0
        t_run = t_result = None
        result = check = None
        mism = []
        guest_kernel = None
        while True:
            now = time.monotonic()
            if now >= next_sample:
                res["samples"].append(sample(cg, pid, now - t0))
                next_sample += SAMPLE_S
                if next_sample < now:
                    next_sample = now + SAMPLE_S
            if polling and now >= next_poll:
                next_poll = now + opts.interval / 1000
                try:
                    st = g.qmp("query-sculpt-stats")
                    g.vm.get_qmp_events()       # drop queued events
                    res["sculpt_samples"].append({"t": now - t0,
                                                  "stats": st})
                except Exception as e:  # noqa: BLE001 (QEMU may be exiting)
                    res["sculpt_error"] = str(e)
                    polling = False
            if now > deadline:
                res["status"] = "timeout"
                res["error"] = f"no result within --timeout {opts.timeout}s"
                g.shutdown()            # kills our QEMU, by its PID
                break
            wait = min(next_sample, next_poll if polling else deadline,
                       deadline) - time.monotonic()
            lines = g.read_lines(wait)
            if lines is None:
                break
            for line in lines:
                now = time.monotonic() - t0
                if line.startswith("SCULPT-BOOT "):
                    guest_kernel = kv(line).get("kernel")
                elif line.startswith("SCULPT-RUN "):
                    t_run = now
                elif line.startswith("SCULPT-RESULT "):
                    t_result, result = now, kv(line)
                elif line.startswith("SCULPT-CHECK "):
                    check = line[len("SCULPT-CHECK "):]
                elif line.startswith("SCULPT-MISMATCH "):
                    mism.append(line)
        # The guest powered off: give QEMU time to tear down (sculpt may
        # still be syncing its cold file) before anything is killed.
        end = time.monotonic() + 60
        while g.vm.is_running() and time.monotonic() < end:
            time.sleep(0.1)
        try:
            g.vm.wait(timeout=5)
        except Exception:  # noqa: BLE001 (QMP already gone, or it hangs)
            g.shutdown()
        host.vms.remove(g.vm)
        res["wall_s"] = time.monotonic() - t0
        res["qemu_rc"] = g.vm.exitcode()
        # the cgroup outlives QEMU until removed: its counters are final
        st = cg.stat()
        res["max_usage"] = int(read_file(cg.f("memory.max_usage_in_bytes")))
        res["memsw_max_usage"] = int(read_file(
            cg.f("memory.memsw.max_usage_in_bytes"), "0"))
        res["pgmajfault"] = st.get("total_pgmajfault", st.get("pgmajfault"))
        res["failcnt"] = int(read_file(cg.f("memory.failcnt")))
        oom = read_file(cg.f("memory.oom_control"), "")
        m = re.search(r"oom_kill (\d+)", oom)
        res["oom_kills"] = int(m.group(1)) if m else None
        vs1 = vmstat()
        for k in ("pswpin", "pswpout"):
            res[k] = vs1.get(k, 0) - vs0.get(k, 0)
        res["steal_s"] = cpu_steal_s() - steal0
        res["guest_kernel"] = guest_kernel
        res["t_run"], res["t_result"] = t_run, t_result
        res["t0_monotonic"] = t0        # vcpu-profile.py lines perf up with it
        res["mismatch_lines"] = mism[:10]
        res["check"] = check
        if res["status"] == "timeout":
            return res
        if result is None or "ops_per_s" not in result:
            res["error"] = (f"no SCULPT-RESULT (QEMU rc {res['qemu_rc']}, "
                            f"oom_kills {res['oom_kills']}); console in "
                            f"{os.path.join(logdir, tag + '.log')}")
            if check and check.startswith("FAIL"):
                res["status"] = "fail"
            return res
        res["ops_per_s"] = float(result["ops_per_s"])
        res["p99_ns"] = int(result.get("p99_ns", 0)) or None
        res["checksum"] = result.get("checksum")
        res["guest_secs"] = float(result.get("secs", "nan"))
        res["init_secs"] = float(result.get("init_secs", "nan"))
        res["status"] = "ok" if (check == "ok" and not mism) else "fail"
        summarize(res)
        return res
    finally:
        g.shutdown()
        if g.vm in host.vms:
            host.vms.remove(g.vm)
        cg.remove()
        if g.lines:
            with open(os.path.join(logdir, tag + ".log"), "w") as f:
                f.write("\n".join(g.lines) + "\n")


def sample(cg, pid, t):
    """One 100 ms sample: cgroup usage and its shmem (the memfd's pages are
    shmem; everything else in the cgroup is QEMU's own), and QEMU's RSS."""
    s = {"t": t}
    try:
        s["usage"] = cg.usage()
        st = cg.stat()
        s["shmem"] = st.get("total_shmem", st.get("shmem", 0))
        s["cache"] = st.get("total_cache", 0)
        s["rss"] = st.get("total_rss", 0)
        s["swap"] = st.get("total_swap", st.get("swap", 0))
    except (OSError, ValueError):
        pass
    try:
        for line in read_file(f"/proc/{pid}/status").splitlines():
            k, _, v = line.partition(":")
            if k in ("RssAnon", "RssFile", "RssShmem", "VmSwap"):
                s[k] = int(v.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return s


def summarize(res):
    """Peaks and means of the samples: peak over the whole boot, mean over
    the timed part of the workload (SCULPT-RUN .. SCULPT-RESULT)."""
    smp = [s for s in res["samples"] if "usage" in s]
    if not smp:
        return
    lo = res["t_run"] or 0
    hi = res["t_result"] or smp[-1]["t"]
    win = [s for s in smp if lo <= s["t"] <= hi] or smp
    nong = [s["usage"] - s["shmem"] for s in smp]
    res["dram_peak"] = max(res.get("max_usage", 0),
                           max(s["usage"] for s in smp))
    res["dram_mean"] = statistics.fmean(s["usage"] for s in win)
    res["shmem_mean"] = statistics.fmean(s["shmem"] for s in win)
    res["overhead_peak"] = max(nong)
    res["rss_anon_peak"] = max((s.get("RssAnon", 0) for s in smp), default=0)
    res["swap_peak"] = max(s.get("swap", 0) for s in smp)
    ss = res["sculpt_samples"]
    if ss:
        last = ss[-1]["stats"]
        last = last[0] if isinstance(last, list) and last else last
        res["sculpt_final"] = {k: last.get(k) for k in
                               ("moves", "blocks-moved", "blocks-empty",
                                "bytes-moved",
                                "failures", "pauses", "pause-max",
                                "mappings", "block-size")
                               if isinstance(last, dict) and k in last}
        dram, fast = {}, []
        for s in ss:
            st = s["stats"]
            st = st[0] if isinstance(st, list) and st else st
            if not isinstance(st, dict):
                continue
            for k, v in find_dram(st).items():
                dram.setdefault(k, []).append(v)
            t = tier_bytes(st)
            if t:
                fast.append((t.get("base") or 0) + (t.get("hot") or 0))
        if dram:
            # auto.dram (DRAM in use at each interval) when the build has
            # it, else the first DRAM-named field there is
            k = "auto.dram" if "auto.dram" in dram else sorted(dram)[0]
            res["sculpt_dram_field"] = k
            res["sculpt_dram_peak"] = max(dram[k])
            res["sculpt_dram_mean"] = statistics.fmean(dram[k])
        auto = last.get("auto") if isinstance(last, dict) else None
        if isinstance(auto, dict):
            res["sculpt_auto"] = auto
        if fast:
            res["sculpt_fast_peak"] = max(fast)
            res["sculpt_fast_mean"] = statistics.fmean(fast)


def scale_ops(args, scale):
    if scale == 1:
        return args
    return re.sub(r"--ops (\d+)",
                  lambda m: f"--ops {max(1, int(int(m.group(1)) * scale))}",
                  args)


# --- report --------------------------------------------------------------------

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def cell(xs, fmt, scale=1.0):
    """median, and [min .. max] when there are several values."""
    xs = [x * scale for x in xs if x is not None]
    if not xs:
        return "-"
    m = statistics.median(xs)
    if len(xs) == 1 or format(min(xs), fmt) == format(max(xs), fmt):
        return format(m, fmt)
    return (f"{format(m, fmt)} [{format(min(xs), fmt)} .. "
            f"{format(max(xs), fmt)}]")


def host_facts(accel, accel_why):
    cpu = ""
    for line in read_file("/proc/cpuinfo", "").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memtotal = read_file("/proc/meminfo", "").splitlines()[0].split()[1]
    thp = read_file("/sys/kernel/mm/transparent_hugepage/enabled", "?")
    shm = read_file("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "?")
    root_dev = "?"
    for line in read_file("/proc/mounts", "").splitlines():
        f = line.split()
        if len(f) > 2 and f[1] == "/":
            root_dev = f"{f[0]} ({f[2]})"
    ver = subprocess.run([sculptlib.qemu_binary(), "--version"],
                         capture_output=True, text=True).stdout.split("\n")[0]
    h = hashlib.sha256()
    with open(sculptlib.qemu_binary(), "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    mtime = datetime.datetime.fromtimestamp(
        os.stat(sculptlib.qemu_binary()).st_mtime,
        datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    ver += f", sha256 {h.hexdigest()[:16]}, built {mtime} UTC"
    return [
        f"kernel {platform.release()}, {os.cpu_count()} cores ({cpu}), "
        f"{int(memtotal) // 1024} MiB RAM; root fs {root_dev}",
        f"accel: {accel} ({accel_why}); QEMU: {sculptlib.qemu_binary()} "
        f"({ver})",
        f"vm.page-cluster {read_file('/proc/sys/vm/page-cluster', '?')}, "
        f"vm.swappiness {read_file('/proc/sys/vm/swappiness', '?')}, "
        f"THP enabled: {thp}, shmem_enabled: {shm}",
    ]


def sculpt_detail(r):
    """One line of what query-sculpt-stats said at the end of a run; every
    field optional."""
    out = []
    a = r.get("sculpt_auto") or {}
    f = r.get("sculpt_final") or {}

    def put(label, v, fmt):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(f"{label} {format(v, fmt)}")

    if "sculpt_dram_field" in r:
        out.append(f"{r['sculpt_dram_field']} mean "
                   f"{mib(r['sculpt_dram_mean']):.0f} MiB, peak "
                   f"{mib(r['sculpt_dram_peak']):.0f} MiB")
    if isinstance(a.get("effective-budget"), int) and \
            a["effective-budget"] + MiB <= a.get("fast-budget", 0):
        out.append(f"effective budget at the end "
                   f"{mib(a['effective-budget']):.0f} MiB (memory cgroup)")
    put("hit-ratio", a.get("hit-ratio"), ".3f")
    put("cold-faults", a.get("cold-faults"), ",")
    if isinstance(a.get("prefetched"), int):
        out.append(f"prefetched {mib(a['prefetched']):.0f} MiB")
    put("prefetch-hits", a.get("prefetch-hits"), ",")
    put("prefetch-misses", a.get("prefetch-misses"), ",")
    put("over-budget intervals", a.get("over-budget"), ",")
    if isinstance(a.get("overshoot-max"), int):
        out.append(f"overshoot-max {mib(a['overshoot-max']):.0f} MiB")
    put("scattered blocks at the end", a.get("scattered-blocks"), ",")
    put("vCPUs held for the budget", a.get("stalls"), ",")
    put("held, vCPU-ms", a.get("stall-ms"), ",")
    put("demoted", a.get("demoted"), ",")
    put("promoted", a.get("promoted"), ",")
    put("moves", f.get("moves"), ",")
    put("empty blocks moved", f.get("blocks-empty"), ",")
    if isinstance(f.get("bytes-moved"), int):
        out.append(f"moved {mib(f['bytes-moved']):.0f} MiB")
    put("failures", f.get("failures"), ",")
    if isinstance(f.get("pause-max"), int):
        out.append(f"pause-max {f['pause-max'] / 1e6:.1f} ms")
    if "sculpt_fast_mean" in r:
        out.append(f"base+hot tier mean {mib(r['sculpt_fast_mean']):.0f} MiB")
    if r.get("sculpt_error"):
        out.append(f"(polling stopped: {r['sculpt_error']})")
    return ", ".join(out) or "no stats"


def build_report(opts, facts, setup_notes, results, overheads, budgets,
                 notes, started, load0, load1):
    L = []
    L.append("# qemu-sculpt end-to-end benchmark")
    L.append("")
    L.append("Command (as root, from the repository root):")
    L.append("")
    L.append("    " + " ".join(shlex.quote(a) for a in
                               ["bench/e2e/run.py"] + sys.argv[1:]))
    L.append("")
    L.append(f"- date: {started} (UTC); load average before {load0}, "
             f"after {load1}")
    for f in facts:
        L.append(f"- {f}")
    L.append(f"- guest: {opts.mem_mib} MiB on memory-backend-memfd,share=on, "
             f"1 vCPU; repeats: {opts.repeat} (paired: each repeat has its "
             f"own unconstrained run; cells are median [min .. max])")
    for n in setup_notes:
        L.append(f"- {n}")
    L.append("- limit: memory.limit_in_bytes = budget + QEMU overhead (peak "
             "cgroup usage minus shmem in the first unconstrained run, "
             "rounded up to MiB); memsw unlimited")
    L.append("")
    L.append("DRAM = the cgroup's memory.usage_in_bytes: the memfd's resident "
             "pages, QEMU's own memory, page cache charged to it (sculpt's "
             "cold file); peak over the whole boot, mean from SCULPT-RUN to "
             "SCULPT-RESULT (buffer fill and timed ops). "
             "Ratios are against the unconstrained run of the same repeat; "
             "p99 x > 1 is worse.")
    L.append("")
    for wl in opts.workloads:
        run, args = WORKLOADS[wl]
        ov = overheads.get(wl)
        L.append(f"## {wl}: `sculpt-work {run} "
                 f"{scale_ops(args, opts.ops_scale)}`")
        L.append("")
        if ov:
            L.append(f"QEMU overhead (unconstrained): {ov['mib']} MiB "
                     f"(cgroup usage - shmem peak {mib(ov['nong']):.1f} MiB, "
                     f"RssAnon peak {mib(ov['rss_anon']):.1f} MiB)")
            L.append("")
        L.append("| config | budget MiB | limit MiB | ops/s | x unconstr. | "
                 "p99 us | p99 x | DRAM peak MiB | DRAM mean MiB | "
                 "sculpt DRAM MiB | major faults | pswpin | wall s | "
                 "checksum |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
                 "---:|---:|---|")
        for config in opts.configs:
            for b in ([None] if config == "unconstrained" else budgets):
                rs = [r for r in results if r["workload"] == wl and
                      r["config"] == config and r.get("budget_mib") == b]
                if not rs:
                    continue
                ok = [r for r in rs if "ops_per_s" in r]
                if not ok:
                    why = rs[0].get("error") or rs[0]["status"]
                    L.append(f"| {config} | {b or '-'} | "
                             f"{rs[0].get('limit_mib') or '-'} | "
                             f"{rs[0]['status']}: {why} |" + " |" * 10)
                    continue
                sc = [r.get("sculpt_dram_mean", r.get("sculpt_fast_mean"))
                      for r in ok]
                cks = {r.get("checksum_ok") for r in ok}
                ck = ("ok" if cks == {True} else "**FAIL**"
                      if False in cks else "?")
                L.append(
                    f"| {config} | {b or '-'} | {ok[0].get('limit_mib') or '-'}"
                    f" | {cell([r['ops_per_s'] for r in ok], ',.0f')}"
                    f" | {cell([r.get('ratio') for r in ok], '.3f')}"
                    f" | {cell([r.get('p99_ns') for r in ok], '.1f', 1e-3)}"
                    f" | {cell([r.get('p99_ratio') for r in ok], '.2f')}"
                    f" | {cell([r.get('dram_peak') for r in ok], '.0f', 1/MiB)}"
                    f" | {cell([r.get('dram_mean') for r in ok], '.0f', 1/MiB)}"
                    f" | {cell(sc, '.0f', 1/MiB)}"
                    f" | {cell([r.get('pgmajfault') for r in ok], ',.0f')}"
                    f" | {cell([r.get('pswpin') for r in ok], ',.0f')}"
                    f" | {cell([r.get('wall_s') for r in ok], '.1f')}"
                    f" | {ck} |")
        L.append("")
        for r in results:
            if r["workload"] != wl or r["config"] not in SCULPT_POLICY:
                continue
            if "sculpt_final" not in r and "sculpt_auto" not in r:
                continue
            L.append(f"- {r['config']} budget {r['budget_mib']} rep "
                     f"{r['rep']}: {sculpt_detail(r)}")
        st = [r for r in results
              if r["workload"] == wl and r.get("steal_s") is not None]
        if st:
            L.append("- CPU time the hypervisor took from this machine (steal"
                     ", s, both CPUs) during each boot, in run order: " +
                     ", ".join(f"{r['config']}"
                               + (f" {r['budget_mib']}" if r.get('budget_mib')
                                  else "")
                               + f" r{r['rep']} {r['steal_s']:.1f}"
                               for r in st))
        if st or any(r["workload"] == wl and r["config"] in SCULPT_POLICY and
                     ("sculpt_final" in r or "sculpt_auto" in r)
                     for r in results):
            L.append("")
    if len(budgets) > 1:
        L.append("## Sweep: share of guest RAM kept out of DRAM at <= 5% "
                 "slowdown")
        L.append("")
        L.append("Share = 1 - budget / guest RAM, for the smallest budget "
                 "whose median throughput is >= 0.95x unconstrained.")
        L.append("")
        L.append("| workload | config | share out of DRAM | budget MiB | "
                 "x unconstr. | DRAM mean MiB | per budget (MiB: x) |")
        L.append("|---|---|---:|---:|---:|---:|---|")
        for wl in opts.workloads:
            for config in opts.configs:
                if config == "unconstrained":
                    continue
                per, best = [], None
                for b in sorted(budgets):
                    rs = [r for r in results if r["workload"] == wl and
                          r["config"] == config and r.get("budget_mib") == b
                          and r.get("ratio") is not None]
                    if not rs:
                        continue
                    m = med([r["ratio"] for r in rs])
                    per.append(f"{b}: {m:.3f}")
                    if m >= SLOWDOWN_OK and best is None:
                        best = (b, m, med([r.get("dram_mean") for r in rs]))
                if not per:
                    continue
                if best:
                    share = 1 - best[0] / opts.mem_mib
                    L.append(f"| {wl} | {config} | {share:.1%} | {best[0]} | "
                             f"{best[1]:.3f} | {mib(best[2]):.0f} | "
                             f"{', '.join(per)} |")
                else:
                    L.append(f"| {wl} | {config} | none within 5% | - | - | "
                             f"- | {', '.join(per)} |")
        L.append("")
    if notes:
        L.append("## Notes")
        L.append("")
        for n in notes:
            L.append(f"- {n}")
        L.append("")
    return "\n".join(L)


# --- main ----------------------------------------------------------------------

def parse_args():
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Needs root, cgroup v1 memory, the built fork and guest.")
    ap.add_argument("--workloads", default=",".join(WORKLOADS),
                    help="comma list of " + ", ".join(WORKLOADS))
    ap.add_argument("--configs", default=",".join(CONFIGS),
                    help="comma list of " + ", ".join(CONFIGS) +
                    " (unconstrained is always added: ratios and the "
                    "overhead come from it)")
    ap.add_argument("--budget-mib", type=int, default=256,
                    help="fast-memory budget (default 256 = 25%% of 1 GiB)")
    ap.add_argument("--sweep", default="",
                    help="comma list of budgets in MiB, replacing "
                    "--budget-mib; reports the largest share of guest RAM "
                    "kept out of DRAM at <= 5%% slowdown")
    ap.add_argument("--mem-mib", type=int, default=1024, help="guest RAM")
    ap.add_argument("--repeat", type=int, default=1,
                    help="paired repeats (median and spread)")
    ap.add_argument("--timeout", type=int, default=1800,
                    help="seconds per guest boot (default 1800)")
    ap.add_argument("--interval", type=int, default=1000,
                    help="sculpt tracking interval, ms, and the QMP "
                    "query-sculpt-stats polling period (default 1000)")
    ap.add_argument("--read-ahead-kb", type=int, default=None, metavar="KB",
                    help="set read_ahead_kb of the cold tier's disk for "
                    "the run (restored at exit): the kernel's mmap "
                    "read-around on cold-file page-ins")
    ap.add_argument("--guest-ticker", type=int, default=0, metavar="MS",
                    help="run a process in every guest that wakes every MS "
                    "ms: under TCG its page-table switches let QEMU resize "
                    "its software TLB, which the lone workload never does "
                    "(README.md, Caveats); default 0: none")
    ap.add_argument("--sculpt-opts", default="",
                    help="more sculpt object properties, e.g. block-size=2M")
    ap.add_argument("--ops-scale", type=float, default=1.0,
                    help="multiply every workload's --ops (smoke runs)")
    ap.add_argument("--swap-file", default=os.path.join(CACHE, "bench.swap"))
    ap.add_argument("--swap-mib", type=int, default=2048)
    ap.add_argument("--out", default=os.path.join(TOP, "bench", "e2e",
                                                  "RESULTS.md"))
    ap.add_argument("--raw-dir", default=os.path.join(sculptlib.BUILD,
                                                      "bench-e2e"),
                    help="raw samples (JSON) and console logs")
    opts = ap.parse_args()
    opts.workloads = [w for w in opts.workloads.split(",") if w]
    opts.configs = [c for c in opts.configs.split(",") if c]
    for w in opts.workloads:
        if w not in WORKLOADS:
            ap.error(f"unknown workload {w}")
    for c in opts.configs:
        if c not in CONFIGS:
            ap.error(f"unknown config {c}")
    if "unconstrained" not in opts.configs:
        opts.configs.insert(0, "unconstrained")
    opts.configs = [c for c in CONFIGS if c in opts.configs]
    try:
        opts.budgets = (sorted({int(x) for x in opts.sweep.split(",") if x})
                        or [opts.budget_mib])
    except ValueError:
        ap.error("--sweep takes a comma list of MiB")
    return opts


def on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def main():
    opts = parse_args()
    if os.geteuid() != 0:
        print("SKIP: needs root (cgroups, swapon, zswap)")
        return sculptlib.SKIP
    sculptlib.require_guest()
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    started = datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S")
    stamp = started.replace(" ", "T").replace(":", "")
    logdir = os.path.join(opts.raw_dir, stamp)
    os.makedirs(logdir, exist_ok=True)
    os.makedirs(os.path.join(sculptlib.BUILD, "tmp"), exist_ok=True)
    load0 = " ".join(read_file("/proc/loadavg").split()[:3])
    accel = "kvm" if sculptlib.kvm_usable() else "tcg"
    accel_why = ("CPU has vmx/svm" if accel == "kvm" else
                 "no usable hardware KVM: vmx/svm missing or kvm_pvm")
    # Page cache of the binaries lands in the cgroup of whoever reads them
    # first: read them here so no run's cgroup is charged for them.
    for p in (sculptlib.qemu_binary(),
              os.path.join(sculptlib.guest_dir(), "vmlinuz"),
              os.path.join(sculptlib.guest_dir(), "initramfs.cpio.gz")):
        with open(p, "rb") as f:
            while f.read(1 << 22):
                pass

    host = Host(opts.swap_file, opts.swap_mib)
    atexit.register(host.cleanup)
    results, overheads, notes, facts = [], {}, [], []
    skipped = {}
    rc = 0
    try:
        constrained = [c for c in opts.configs if c != "unconstrained"]
        if constrained:
            host.zswap_off()
            host.swap_on()
            host.read_ahead(opts.read_ahead_kb)
        if any(c in SCULPT_POLICY for c in constrained):
            host.make_cold_dir()
            host.notes.append(f"sculpt cold tier: cold-tier=file in "
                              f"{host.cold_dir} (root fs), interval "
                              f"{opts.interval} ms"
                              + (f", {opts.sculpt_opts}"
                                 if opts.sculpt_opts else ""))
        if opts.guest_ticker:
            host.notes.append(f"every guest runs a ticker waking every "
                              f"{opts.guest_ticker} ms (sculpt.ticker): "
                              f"TCG's software TLB grows to the working "
                              f"set in every config")
        elif accel == "tcg":
            host.notes.append("no guest ticker: under TCG the lone workload "
                              "runs with the software TLB QEMU started "
                              "with, mostly missing it (README.md, Caveats)")
        if accel == "tcg" and "track-duty" in opts.sculpt_opts:
            host.notes.append("**track-duty** switches the dirty log on and "
                              "off, which flushes and resizes TCG's TLB: the "
                              "sculpt configs then run in another TLB "
                              "regime than the others (README.md, Caveats)")
        facts = host_facts(accel, accel_why)
        log(f"parent cgroup {host.parent}; raw data in {logdir}")
        for wl in opts.workloads:
            ref = None                  # the unconstrained checksum
            for rep in range(opts.repeat):
                # even repeats: unconstrained first (it measures the
                # overhead); odd ones: the reverse order, so drift in the
                # host's load does not always favour the same side
                plan = [("unconstrained", None)] + \
                    [(c, b) for c in constrained for b in opts.budgets]
                if rep % 2:
                    plan = plan[::-1]
                base = None
                pending = []
                for config, b in plan:
                    if config in skipped:
                        continue
                    if config != "unconstrained" and wl not in overheads:
                        notes.append(f"{wl}: no overhead measured (the "
                                     f"unconstrained run failed): "
                                     f"{config} not run")
                        continue
                    limit = (None if config == "unconstrained" else
                             b + overheads[wl]["mib"])
                    log(f"{wl} rep {rep} {config}"
                        + (f" budget {b} MiB limit {limit} MiB" if limit
                           else "") + " ...")
                    try:
                        r = run_once(host, opts, wl, config, b, limit, rep,
                                     accel, logdir)
                    except Skip as e:
                        skipped[config] = str(e)
                        notes.append(f"{config}: SKIPPED: {e}")
                        log(f"SKIP {config}: {e}")
                        continue
                    results.append(r)
                    log(f"  -> {r['status']}"
                        + (f" {r['ops_per_s']:,.0f} ops/s p99 "
                           f"{r['p99_ns']} ns, DRAM peak "
                           f"{mib(r.get('dram_peak')):.0f} MiB mean "
                           f"{mib(r.get('dram_mean')):.0f} MiB, majflt "
                           f"{r.get('pgmajfault')}, pswpin {r.get('pswpin')},"
                           f" wall {r['wall_s']:.1f}s" if "ops_per_s" in r
                           else f": {r.get('error')}"))
                    if "checksum" in r:
                        if ref is None and config == "unconstrained":
                            ref = r["checksum"]
                        pending.append(r)
                    if r["status"] == "fail":
                        rc = 1
                        notes.append(f"**FAIL** {wl} {config} rep {rep}: "
                                     f"guest check {r.get('check')} "
                                     f"{' '.join(r['mismatch_lines'][:2])}")
                    elif r["status"] != "ok":
                        rc = rc or 3
                        notes.append(f"{wl} {config} rep {rep}: "
                                     f"{r['status']}: {r.get('error')}")
                    if config == "unconstrained" and "ops_per_s" in r:
                        base = r
                        if wl not in overheads:
                            nong = r.get("overhead_peak", 0)
                            ra = r.get("rss_anon_peak", 0)
                            overheads[wl] = {
                                "nong": nong, "rss_anon": ra,
                                "mib": math.ceil(max(nong, ra) / MiB)}
                            log(f"  QEMU overhead {overheads[wl]['mib']} MiB"
                                f" (usage-shmem peak {mib(nong):.1f}, "
                                f"RssAnon peak {mib(ra):.1f})")
                # ratios and checksums within this repeat
                for r in pending:
                    if ref is None:
                        r["checksum_ok"] = None     # nothing to compare
                        notes.append(f"{wl} {r['config']} rep {r['rep']}: "
                                     "checksum not checked (no "
                                     "unconstrained result)")
                    else:
                        r["checksum_ok"] = r["checksum"] == ref
                    if r["checksum_ok"] is False:
                        rc = 1
                        msg = (f"**FAIL** checksum mismatch: {wl} "
                               f"{r['config']} rep {r['rep']} got "
                               f"{r['checksum']}, unconstrained {ref}")
                        notes.append(msg)
                        print(msg.replace("**", ""), file=sys.stderr,
                              flush=True)
                    if base and r is not base:
                        r["ratio"] = r["ops_per_s"] / base["ops_per_s"]
                        if r.get("p99_ns") and base.get("p99_ns"):
                            r["p99_ratio"] = r["p99_ns"] / base["p99_ns"]
                    elif r is base:
                        r["ratio"] = 1.0
                        r["p99_ratio"] = 1.0
    except KeyboardInterrupt:
        notes.append("interrupted (Ctrl-C): partial results")
        rc = 130
    except SystemExit as e:     # SIGTERM/SIGHUP, raised by on_signal
        notes.append("interrupted by a signal: partial results")
        rc = e.code if isinstance(e.code, int) else 1
    except Exception as e:  # noqa: BLE001 (report what was measured)
        import traceback
        traceback.print_exc()
        notes.append(f"aborted by an error: {e!r}: partial results")
        rc = 3
    finally:
        host.cleanup()
        load1 = " ".join(read_file("/proc/loadavg").split()[:3])
    if len({r.get("qemu_mtime") for r in results}) > 1:
        notes.append("**WARNING**: the QEMU binary changed during this run "
                     "(rebuilt next to it): its runs are not comparable")
    gks = {r.get("guest_kernel") for r in results if r.get("guest_kernel")}
    if gks:
        facts.append(f"guest kernel {', '.join(sorted(gks))}")
    report = build_report(opts, facts, host.notes, results, overheads,
                          opts.budgets, notes, started, load0, load1)
    print(report, flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(opts.out)), exist_ok=True)
    with open(opts.out, "w") as f:
        f.write(report + "\n")
    with open(os.path.join(logdir, "results.json"), "w") as f:
        json.dump({"argv": sys.argv, "started": started, "facts": facts,
                   "setup": host.notes, "overheads": overheads,
                   "notes": notes, "results": results}, f, indent=1)
    log(f"report in {opts.out}; raw samples and console logs in {logdir}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
