"""Shared helpers for qemu-sculpt's guest tests, demo and benchmarks.

Boots the test guest (guest/build-guest) on the fork's qemu-system-x86_64
through QEMU's own python/qemu/machine, with guest RAM on a shared memfd,
reads its serial console line by line and talks QMP.  Picks the accelerator
by a cheap probe (KVM only where the CPU can really run a guest; TCG
otherwise) and says which ran.
"""

import ctypes
import os
import shlex
import re
import select
import subprocess
import sys
import time

TOP = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(TOP, "build")
sys.path.insert(0, os.path.join(BUILD, "src", "python"))

from qemu.machine import QEMUMachine  # noqa: E402  (needs the path above)

SKIP = 77


def qemu_binary():
    return os.environ.get("SCULPT_QEMU",
                          os.path.join(BUILD, "qemu", "qemu-system-x86_64"))


def guest_dir():
    return os.environ.get("SCULPT_GUEST", os.path.join(BUILD, "guest"))


def kvm_usable():
    """True only where KVM can run a stock guest kernel (vmx/svm present).

    On these machines /dev/kvm is a software hypervisor (kvm_pvm) without
    vmx/svm, under which stock kernels crash; never probe it by booting.
    """
    if os.environ.get("SCULPT_ACCEL") in ("tcg", "kvm"):
        return os.environ["SCULPT_ACCEL"] == "kvm"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
        with open("/proc/modules") as f:
            modules = f.read()
    except OSError:
        return False
    if "kvm_pvm" in modules:
        return False
    return re.search(r"\b(vmx|svm)\b", flags) is not None


def pick_accel():
    accel = "kvm" if kvm_usable() else "tcg"
    print(f"sculptlib: accel={accel}", flush=True)
    return accel


class Guest:
    """One test guest: QEMU + console reader + QMP."""

    def __init__(self, mem_mib=1024, run="memtest", args="", extra=None,
                 append="", name="guest", accel=None, memfd=True,
                 cgroup_procs=None):
        self.mem_mib = mem_mib
        self.accel = accel or pick_accel()
        gd = guest_dir()
        cmdline = (f'console=ttyS0 quiet panic=-1 tsc=reliable '
                   f'sculpt.run={run}')
        if args:
            cmdline += f' sculpt.args="{args}"'
        if append:
            cmdline += " " + append
        qargs = ["-accel", self.accel, "-M", "pc", "-m", f"{mem_mib}M",
                 "-smp", "1", "-no-reboot", "-nic", "none",
                 "-kernel", os.path.join(gd, "vmlinuz"),
                 "-initrd", os.path.join(gd, "initramfs.cpio.gz"),
                 "-append", cmdline]
        if memfd:
            qargs += ["-object", f"memory-backend-memfd,id=ram0,"
                      f"size={mem_mib}M,share=on",
                      "-machine", "memory-backend=ram0"]
        qargs += extra or []
        # For investigating, not set by make check: more QEMU arguments for
        # every guest a test starts, e.g. "-trace sculpt_batch -D FILE"
        # (bench/mover/trace-summary.py reads such a log).
        qargs += shlex.split(os.environ.get("SCULPT_QEMU_EXTRA", ""))
        # In a cgroup: a shell joins it (its cgroup.procs) and execs QEMU,
        # so every page QEMU ever touches is charged there.
        wrapper = (["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"',
                    cgroup_procs] if cgroup_procs else [])
        self.vm = QEMUMachine(qemu_binary(), args=qargs, name=name,
                              wrapper=wrapper,
                              base_temp_dir=os.path.join(BUILD, "tmp"))
        self.vm.set_console()
        self.lines = []
        self._buf = b""
        self.echo = True

    def launch(self):
        os.makedirs(os.path.join(BUILD, "tmp"), exist_ok=True)
        self.vm.launch()
        return self

    # --- console -------------------------------------------------------
    def _readline(self, deadline):
        sock = self.vm.console_socket
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([sock], [], [], min(left, 1.0))
            if not r:
                if not self.vm.is_running():
                    return None
                continue
            data = sock.recv(65536)
            if not data:
                return None
            self._buf += data
        line, self._buf = self._buf.split(b"\n", 1)
        text = line.decode(errors="replace").rstrip("\r")
        self.lines.append(text)
        if self.echo:
            print(f"  | {text}", flush=True)
        return text

    def wait_for(self, pattern, timeout=600):
        """Read console lines until one matches @pattern; return the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            line = self._readline(deadline)
            if line is None:
                raise TimeoutError(f"no console line matching {pattern!r} "
                                   f"within {timeout}s")
            m = rx.search(line)
            if m:
                return m

    def results(self, prefix="SCULPT-RESULT"):
        """Parsed key=value fields of every console line with @prefix."""
        return parse_lines(self.lines, prefix)

    # --- monitor -------------------------------------------------------
    def qmp(self, cmd, **args):
        return self.vm.cmd(cmd, **args)

    def hmp(self, line):
        return self.vm.cmd("human-monitor-command", command_line=line)

    def wait_exit(self, timeout=600):
        """Drain the console until QEMU exits (the guest powers off)."""
        deadline = time.monotonic() + timeout
        while self._readline(deadline) is not None:
            pass
        self.vm.wait(timeout=max(1, deadline - time.monotonic()))
        return self.vm.exitcode()

    def shutdown(self):
        if self.vm.is_running():
            self.vm.shutdown(hard=True)


def parse_lines(lines, prefix="SCULPT-RESULT"):
    """Parsed key=value fields of every line of @lines with @prefix."""
    return [dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
            for line in lines if line.startswith(prefix + " ")]


def native_result(command, args):
    """The last SCULPT-RESULT of `sculpt-work COMMAND ARGS` run natively on
    the host: the same binary the guest runs, so its checksum is the one a
    guest run must print."""
    out = run([os.path.join(guest_dir(), "sculpt-work"), command] +
              args.split())
    res = parse_lines(out.splitlines())
    if not res:
        raise RuntimeError(f"native sculpt-work {command} printed no "
                           f"SCULPT-RESULT:\n{out}")
    return res[-1]


def require_guest():
    """Exit with SKIP when the fork or the guest is not built."""
    for path in (qemu_binary(), os.path.join(guest_dir(), "vmlinuz")):
        if not os.path.exists(path):
            print(f"SKIP: {path} is missing (run make)")
            sys.exit(SKIP)


def remove_cgroup(path):
    """rmdir a cgroup its last task may still be leaving; False if it
    stayed."""
    for _ in range(50):
        try:
            os.rmdir(path)
            return True
        except FileNotFoundError:
            return True
        except OSError:
            time.sleep(0.1)     # the last task is still exiting
    return False


def host_has(path):
    return os.path.exists(path)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True,
                          **kw).stdout


# --- DRAM as design.md defines it, measured from the host -----------------

class _CacheStatRange(ctypes.Structure):
    _fields_ = [("off", ctypes.c_uint64), ("len", ctypes.c_uint64)]


class _CacheStat(ctypes.Structure):
    _fields_ = [("nr_cache", ctypes.c_uint64), ("nr_dirty", ctypes.c_uint64),
                ("nr_writeback", ctypes.c_uint64),
                ("nr_evicted", ctypes.c_uint64),
                ("nr_recently_evicted", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_SYS_CACHESTAT = 451
PAGE = os.sysconf("SC_PAGE_SIZE")


def cached_bytes(path):
    """Bytes of the file behind @path (e.g. /proc/PID/fd/N) in the page
    cache (shmem: resident pages), by cachestat(2)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        rng, cs = _CacheStatRange(0, 0), _CacheStat()
        if _libc.syscall(_SYS_CACHESTAT, fd, ctypes.byref(rng),
                         ctypes.byref(cs), 0):
            raise OSError(ctypes.get_errno(), "cachestat")
        return cs.nr_cache * PAGE
    finally:
        os.close(fd)


def differing_pages(a, b, page=4096):
    """Offsets of the pages where files @a and @b differ (RAM images)."""
    pages, off = [], 0
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if not x:
                break
            if x != y:
                pages += [off + p for p in range(0, len(x), page)
                          if x[p:p + page] != y[p:p + page]]
            off += len(x)
    return pages


def guest_ram_dram(pid, cold_dir=None):
    """DRAM that QEMU @pid's guest RAM uses, sampled from the host: the
    backend memfd, sculpt's pool memfds and its cold file's page cache.
    Returns (bytes, {fd target: bytes})."""
    parts = {}
    fddir = f"/proc/{pid}/fd"
    for name in os.listdir(fddir):
        try:
            target = os.readlink(os.path.join(fddir, name))
        except OSError:
            continue
        if not (target.startswith("/memfd:memory-backend") or
                target.startswith("/memfd:sculpt-") or
                (cold_dir and target.startswith(cold_dir.rstrip("/") + "/"))):
            continue
        try:
            parts[target] = parts.get(target, 0) + \
                cached_bytes(os.path.join(fddir, name))
        except OSError:
            pass
    return sum(parts.values()), parts
