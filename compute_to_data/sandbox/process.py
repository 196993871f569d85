"""Run an untrusted program in a bubblewrap sandbox (docs/compute.md, "The algorithm interface").

Standard library only: this module also runs on a GPU machine that has nothing but Python.

What a job sees: ``/usr`` (and the ``/lib``, ``/bin``... links), the Python installation that runs it
(read-only, at its host path), a minimal ``/etc``, a private ``/proc``, ``/dev`` and capped ``/tmp``,
``/data`` and ``/job`` read-only and ``/out`` read-write. No network (an empty network namespace), no
other process, a cleared environment, a read-only root.

How it is held:

- namespaces: mount, pid, net, ipc, uts, cgroup (bwrap); ``--die-with-parent``, ``--new-session``;
- identity: started as root, bwrap builds the sandbox and the job runs as uid/gid 65534 (nobody) with
  no capabilities and ``no_new_privs`` (``setpriv``, or a Python one-liner where setpriv is missing).
  Started as another user, bwrap uses a user namespace and the job keeps that user's uid;
- a seccomp filter refuses the calls a job never needs and that widen the kernel's surface: new
  namespaces and mounts, keyrings, ptrace, bpf, perf events, userfaultfd, io_uring, modules...;
- limits: rlimits (CPU time, file size, open files, no core dumps), a cgroup (v1 ``pids`` +
  ``memory``, or one v2 group) for the number of processes and threads and for memory (the tmpfs
  ``/tmp`` and ``/out`` count in it), a wall-clock limit enforced here, and a size-capped tmpfs for
  ``/out`` (:func:`prepare_output`). Without a writable cgroup the number of processes falls back to
  ``RLIMIT_NPROC`` of the job's uid and memory to ``RLIMIT_AS`` (CPU jobs only: CUDA reserves huge
  virtual ranges, so a GPU job's memory is then not capped); a logged warning says so;
- cgroups are made under ``datamarket/`` in the worker's own cgroup; under cgroup v2 a worker whose
  own cgroup holds processes (a container's, a service's) must name an empty delegated cgroup in
  ``DATAMARKET_SANDBOX_CGROUP`` instead;
- end: at the end of :func:`run` no process of the job is alive (the pid namespace dies with its
  first process, and every pid left in the cgroup is killed) and the cgroups are removed.

stdout and stderr go, merged, to ``log_path`` (at most ``log_bytes``; the rest is drained and
dropped) and, line by line, to ``on_line`` (called from a helper thread, lines cut at 4 KiB).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import platform
import re
import resource
import select
import shutil
import signal
import stat
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

#: uid and gid the job runs as when the worker is root.
NOBODY = 65534
#: Folder under the worker's own cgroup that holds one cgroup per job.
CGROUP_PARENT = "datamarket"
#: Names a delegated, empty cgroup v2 folder to hold the job cgroups instead (see _cgroup_bases).
CGROUP_ENV = "DATAMARKET_SANDBOX_CGROUP"
#: Longest line passed to ``on_line`` (bytes; the rest of the line is dropped there, not in the log).
MAX_LINE = 4 * KIB
#: How often the watcher looks at the clock, the cancel event and the output size (seconds).
POLL_S = 0.05
#: How often the size of a plain (non-tmpfs) output folder is measured (seconds).
OUTPUT_CHECK_S = 0.5
#: How long cleanup may take to see every process of a job gone (seconds).
KILL_TIMEOUT_S = 10.0

INSTALL_HINT = "install bubblewrap: `apt-get install bubblewrap` (`make install` does it)"

REASONS = ("exited", "wall_time", "cpu_time", "memory", "output_full", "file_size", "cancelled", "killed")

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SandboxError(Exception):
    """The sandbox could not run the job (not the job's own failure); ``code`` is machine-readable."""

    code = "sandbox_error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class SandboxUnavailable(SandboxError):
    """bubblewrap is missing, or cannot create namespaces on this machine."""

    code = "sandbox_unavailable"


@dataclass(frozen=True)
class Limits:
    wall_time_s: float = 3600
    #: Per process (RLIMIT_CPU): SIGXCPU at this many seconds, SIGKILL 5 s later.
    cpu_time_s: int = 3600
    memory_bytes: int = 8 * GIB
    #: Size of the ``/out`` tmpfs (:func:`prepare_output`), or the size at which a plain folder is killed.
    output_bytes: int = 256 * MIB
    tmp_bytes: int = 256 * MIB
    file_size_bytes: int = 256 * MIB
    open_files: int = 256
    #: Processes and threads together (a pids cgroup counts both).
    processes: int = 128
    log_bytes: int = 1 * MIB


@dataclass(frozen=True)
class SandboxSpec:
    argv: tuple[str, ...]
    data_dir: Path
    job_dir: Path
    out_dir: Path
    log_path: Path
    #: Unique among running jobs (the job id): names the cgroup. Letters, digits, ``_.-``.
    name: str
    limits: Limits = field(default_factory=Limits)
    #: NVIDIA device minor numbers (``/dev/nvidia<i>``); empty for a CPU job.
    gpus: tuple[int, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    #: The interpreter whose installation is bound in (default: the one running this module).
    python: Path | None = None


@dataclass(frozen=True)
class SandboxResult:
    #: The job's exit status, or None when it was killed by a signal (see ``signal``).
    exit_code: int | None
    signal: int | None
    reason: str
    wall_s: float
    first_output_s: float | None
    log_truncated: bool
    #: The memory cgroup's high-water mark (page cache and the tmpfs files included); None without one.
    peak_memory_bytes: int | None


# --------------------------------------------------------------------------------------------------
# availability


_lock = threading.Lock()
_bwrap: str | None = None


def _privileged() -> bool:
    return os.geteuid() == 0


def _namespace_args(privileged: bool) -> list[str]:
    if privileged:
        # No user namespace: the job must be a real unprivileged uid (RLIMIT_NPROC, keyrings, files).
        return ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    return [
        "--unshare-user",
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--disable-userns",
    ]


def check_available() -> str:
    """The path of bwrap once it has been seen to build a sandbox here; else SandboxUnavailable."""
    global _bwrap
    with _lock:
        if _bwrap is not None:
            return _bwrap
        path = shutil.which("bwrap") or next(
            (p for p in ("/usr/bin/bwrap", "/usr/local/bin/bwrap") if os.access(p, os.X_OK)), None
        )
        if path is None:
            raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed; {INSTALL_HINT}")
        true = shutil.which("true", path="/usr/bin:/bin") or "/usr/bin/true"
        argv = [
            path,
            *_namespace_args(_privileged()),
            "--die-with-parent",
            "--cap-drop",
            "ALL",
            *_system_binds(),
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--clearenv",
            true,
        ]
        try:
            probe = subprocess.run(argv, capture_output=True, timeout=30, env={}, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SandboxUnavailable(f"bwrap at {path} could not be started: {exc}; {INSTALL_HINT}") from exc
        if probe.returncode != 0:
            detail = probe.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
            raise SandboxUnavailable(
                f"bwrap cannot create a sandbox here ({detail[0]}): it needs root, or unprivileged user "
                f"namespaces (sysctl kernel.unprivileged_userns_clone=1); {INSTALL_HINT}"
            )
        _bwrap = path
        return path


# --------------------------------------------------------------------------------------------------
# the output folder


_MS_NOSUID = 2
_MS_NODEV = 4
_MNT_DETACH = 2


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def prepare_output(out_dir: Path, size_bytes: int) -> None:
    """Make ``out_dir`` an empty tmpfs of ``size_bytes`` the job's uid may write into.

    As root: a tmpfs owned by uid 65534, mode 0700 (the worker, root, reads it all the same). When no
    tmpfs can be mounted (not root, or no CAP_SYS_ADMIN) it stays a plain folder, and :func:`run`
    enforces the cap by measuring it and killing the job past ``output_bytes`` (reason ``output_full``).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if os.path.ismount(out_dir):
        release_output(out_dir)
    if _privileged():
        libc = _libc()
        options = f"size={int(size_bytes)},mode=0700,uid={NOBODY},gid={NOBODY}".encode()
        flags = _MS_NOSUID | _MS_NODEV
        if libc.mount(b"datamarket-out", os.fsencode(out_dir), b"tmpfs", flags, options) == 0:
            return
        error = ctypes.get_errno()
        log.warning(
            "sandbox: cannot mount a tmpfs on the output folder (%s); the size of /out is watched instead",
            os.strerror(error),
        )
        os.chown(out_dir, NOBODY, NOBODY)
        os.chmod(out_dir, 0o700)
    else:
        log.warning("sandbox: not root, /out is a plain folder whose size is watched")


def release_output(out_dir: Path) -> None:
    """Unmount the tmpfs of :func:`prepare_output` (lazily when busy); nothing if it is not mounted."""
    path = os.fsencode(Path(out_dir))
    if not os.path.ismount(path):
        return
    libc = _libc()
    if libc.umount2(path, 0) == 0:
        return
    error = ctypes.get_errno()
    if error == errno.EBUSY and libc.umount2(path, _MNT_DETACH) == 0:
        return
    if error == errno.EINVAL and not os.path.ismount(path):
        return  # unmounted meanwhile
    raise SandboxError(f"cannot unmount the output folder: {os.strerror(error)}", "sandbox_cleanup")


# --------------------------------------------------------------------------------------------------
# cgroups


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash in paths as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _mountinfo() -> list[tuple[str, str, str, set[str]]]:
    """(root, mount point, fs type, super options) of each mount of this process."""
    mounts = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as lines:
        for line in lines:
            head, _, tail = line.partition(" - ")
            fields, rest = head.split(), tail.split()
            if len(fields) < 5 or len(rest) < 3:
                continue
            mounts.append((_unescape(fields[3]), _unescape(fields[4]), rest[0], set(rest[2].split(","))))
    return mounts


def _own_cgroups() -> dict[str, str]:
    """Controller (``""`` for the v2 hierarchy) -> this process's cgroup path."""
    paths = {}
    with open("/proc/self/cgroup", encoding="utf-8") as lines:
        for line in lines:
            parts = line.rstrip("\n").split(":", 2)
            if len(parts) != 3:
                continue
            for controller in parts[1].split(",") if parts[1] else [""]:
                paths[controller] = parts[2]
    return paths


def _join(mount: str, root: str, path: str) -> Path:
    """The folder of cgroup ``path`` under a hierarchy mounted at ``mount`` whose root is ``root``."""
    relative = path
    if root != "/" and (path == root or path.startswith(root.rstrip("/") + "/")):
        relative = path[len(root) :]
    return Path(mount) / relative.lstrip("/")


def _cgroup_bases() -> list[tuple[int, str, Path]]:
    """(version, controller, parent folder of the job cgroups) for pids and memory, where mounted.

    The parent is ``datamarket/`` under this process's own cgroup, so that a job stays inside
    whatever limits the worker itself runs under. Under cgroup v2 that needs the worker's cgroup to
    hold no process itself (the kernel's "no internal processes" rule): where it does (a worker
    started in a container's or a service's cgroup), set ``DATAMARKET_SANDBOX_CGROUP`` to an empty
    cgroup v2 folder delegated to the worker (e.g. systemd ``Delegate=yes`` and a sub-folder).
    """
    mounts = _mountinfo()
    own = _own_cgroups()
    for root, point, fstype, _ in mounts:
        if fstype == "cgroup2" and point == "/sys/fs/cgroup" and "" in own:
            configured = os.environ.get(CGROUP_ENV)
            if configured:
                return [(2, "", Path(configured))]
            return [(2, "", _join(point, root, own[""]) / CGROUP_PARENT)]
    bases = []
    for controller in ("pids", "memory"):
        for root, point, fstype, options in mounts:
            if fstype == "cgroup" and controller in options and controller in own:
                bases.append((1, controller, _join(point, root, own[controller]) / CGROUP_PARENT))
                break
    return bases


def _write(path: Path, value: str) -> None:
    with open(path, "w", encoding="ascii") as file:
        file.write(value)


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _read_keyed(path: Path) -> dict[str, int]:
    values = {}
    try:
        for line in path.read_text().splitlines():
            key, _, number = line.partition(" ")
            if number.strip().isdigit():
                values[key] = int(number)
    except OSError:
        pass
    return values


def _cgroup_pids(folder: Path) -> list[int]:
    try:
        return [int(pid) for pid in (folder / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _kill_cgroup(folder: Path, timeout: float = KILL_TIMEOUT_S) -> bool:
    """SIGKILL every process in the cgroup until it is empty; whether it became empty."""
    kill_file = folder / "cgroup.kill"
    deadline = time.monotonic() + timeout
    while True:
        pids = _cgroup_pids(folder)
        if not pids:
            return True
        if kill_file.exists():
            with contextlib.suppress(OSError):
                _write(kill_file, "1")
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            except PermissionError:
                log.warning("sandbox: not allowed to kill pid %d of cgroup %s", pid, folder.name)
        if time.monotonic() >= deadline:
            return not _cgroup_pids(folder)
        time.sleep(0.01)


def _remove_cgroup(folder: Path, timeout: float = KILL_TIMEOUT_S) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        _kill_cgroup(folder, timeout=max(0.0, deadline - time.monotonic()))
        try:
            folder.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() >= deadline:
                log.warning("sandbox: cannot remove cgroup %s: %s", folder, exc)
                return False
        time.sleep(0.01)


def _enable(folder: Path) -> set[str]:
    """Enable pids and memory (those offered) for the children of cgroup v2 ``folder``."""
    wanted = {"pids", "memory"} & set((folder / "cgroup.controllers").read_text().split())
    if not wanted <= set((folder / "cgroup.subtree_control").read_text().split()):
        _write(folder / "cgroup.subtree_control", " ".join(f"+{c}" for c in sorted(wanted)))
    return wanted


@dataclass
class _Cgroups:
    """A job's cgroups: the pids and memory folders (the same folder under cgroup v2)."""

    version: int
    pids: Path | None
    memory: Path | None

    @property
    def folders(self) -> list[Path]:
        return list(dict.fromkeys(f for f in (self.pids, self.memory) if f is not None))

    @classmethod
    def create(cls, name: str, limits: Limits) -> tuple[_Cgroups | None, list[str]]:
        """The job's cgroups with their limits set, and what could not be done (for warnings)."""
        problems: list[str] = []
        try:
            bases = _cgroup_bases()
        except OSError as exc:
            return None, [f"cannot read this process's cgroups: {exc}"]
        if not bases:
            return None, ["no cgroup hierarchy with pids or memory is mounted"]
        if bases[0][0] == 2:
            return cls._create_v2(bases[0][2], name, limits)
        made = cls(version=1, pids=None, memory=None)
        for _, controller, base in bases:
            folder = base / name
            try:
                if folder.exists():
                    _remove_cgroup(folder)
                for attempt in range(3):  # another job may remove an empty parent meanwhile
                    base.mkdir(exist_ok=True)
                    try:
                        folder.mkdir()
                        break
                    except FileNotFoundError:
                        if attempt == 2:
                            raise
            except OSError as exc:
                problems.append(f"cannot create the {controller} cgroup {folder}: {exc}")
                continue
            try:
                if controller == "pids":
                    _write(folder / "pids.max", str(limits.processes))
                    made.pids = folder
                else:
                    _write(folder / "memory.limit_in_bytes", str(limits.memory_bytes))
                    swap = folder / "memory.memsw.limit_in_bytes"
                    if swap.exists():
                        try:
                            _write(swap, str(limits.memory_bytes))
                        except OSError as exc:
                            problems.append(f"cannot forbid swap: {exc}")
                    made.memory = folder
            except OSError as exc:
                problems.append(f"cannot set the {controller} limit: {exc}")
                _remove_cgroup(folder)
        for controller in ("pids", "memory"):
            if controller not in {c for _, c, _ in bases}:
                problems.append(f"no {controller} cgroup hierarchy is mounted")
        return (made if made.folders else None), problems

    @classmethod
    def _create_v2(cls, base: Path, name: str, limits: Limits) -> tuple[_Cgroups | None, list[str]]:
        folder = base / name
        try:
            if folder.exists():
                _remove_cgroup(folder)
            for attempt in range(3):  # another job may remove an empty parent meanwhile
                if not base.exists():
                    # Refused (EBUSY) when the worker's own cgroup holds processes and is not the root.
                    _enable(base.parent)
                    base.mkdir(exist_ok=True)
                wanted = _enable(base)
                if not wanted:
                    with contextlib.suppress(OSError):
                        base.rmdir()
                    return None, [f"the cgroup {base} offers neither pids nor memory"]
                try:
                    folder.mkdir()
                    break
                except FileNotFoundError:
                    if attempt == 2:
                        raise
        except OSError as exc:
            return None, [f"cannot create a cgroup v2 group under {base}: {exc}"]
        made = cls(version=2, pids=None, memory=None)
        problems = []
        try:
            if "pids" in wanted:
                _write(folder / "pids.max", str(limits.processes))
                made.pids = folder
            if "memory" in wanted:
                _write(folder / "memory.max", str(limits.memory_bytes))
                made.memory = folder
                if (folder / "memory.swap.max").exists():
                    _write(folder / "memory.swap.max", "0")
            problems += [f"the cgroup {base} does not offer {c}" for c in sorted({"pids", "memory"} - wanted)]
        except OSError as exc:
            _remove_cgroup(folder)
            return None, [f"cannot set cgroup v2 limits: {exc}"]
        return made, problems

    def procs_files(self) -> list[bytes]:
        return [os.fsencode(folder / "cgroup.procs") for folder in self.folders]

    def kill_all(self) -> bool:
        return all(_kill_cgroup(folder) for folder in self.folders)

    def alive(self) -> list[int]:
        return sorted({pid for folder in self.folders for pid in _cgroup_pids(folder)})

    def memory_stats(self) -> tuple[int | None, int, int]:
        """(peak bytes, OOM kills, times the limit was hit)."""
        if self.memory is None:
            return None, 0, 0
        if self.version == 1:
            peak = _read_int(self.memory / "memory.max_usage_in_bytes")
            oom = _read_keyed(self.memory / "memory.oom_control").get("oom_kill", 0)
            failcnt = _read_int(self.memory / "memory.failcnt") or 0
            return peak, oom, failcnt
        events = _read_keyed(self.memory / "memory.events")
        return _read_int(self.memory / "memory.peak"), events.get("oom_kill", 0), events.get("max", 0)

    def remove(self) -> bool:
        """Remove the job's cgroups, and their parent once it is empty (it is made again as needed)."""
        removed = all(_remove_cgroup(folder) for folder in self.folders)
        for folder in self.folders:
            parent = folder.parent
            if parent.name == CGROUP_PARENT and str(parent) != os.environ.get(CGROUP_ENV):
                with contextlib.suppress(OSError):  # EBUSY while other jobs run
                    parent.rmdir()
        return removed


_warned: set[str] = set()


def _warn_once(message: str, key: str) -> None:
    """A warning the first time ``key`` is seen in this process, a debug line afterwards."""
    with _lock:
        first = key not in _warned
        _warned.add(key)
    log.log(logging.WARNING if first else logging.DEBUG, "%s", message)


def probe_cgroups() -> str:
    """What holds the jobs here, in words: the cgroups a job gets, or why there are none.

    Creates and removes a job cgroup; for a worker's start-up log and the benchmarks.
    """
    name = f"probe-{os.getpid()}-{threading.get_ident()}"
    made, problems = _Cgroups.create(name, Limits())
    if made is None:
        return "no cgroups (" + "; ".join(problems) + ")"
    try:
        kinds = [kind for kind, folder in (("pids", made.pids), ("memory", made.memory)) if folder]
        return f"cgroup v{made.version}: " + ", ".join(kinds) + "".join(f"; {p}" for p in problems)
    finally:
        made.remove()


def sweep(prefix: str) -> None:
    """Kill the processes of, and remove, every job cgroup whose name starts with ``prefix``.

    For a worker that restarts after a crash: the jobs it ran died with it (``--die-with-parent``),
    their cgroups are left behind.
    """
    try:
        bases = _cgroup_bases()
    except OSError:
        return
    for _, _, base in bases:
        try:
            entries = [entry for entry in base.iterdir() if entry.is_dir() and entry.name.startswith(prefix)]
        except OSError:
            continue
        for entry in entries:
            _remove_cgroup(entry)
        if base.name == CGROUP_PARENT and str(base) != os.environ.get(CGROUP_ENV):
            with contextlib.suppress(OSError):  # EBUSY while other jobs run
                base.rmdir()


# --------------------------------------------------------------------------------------------------
# seccomp


_SECCOMP_ALLOW = 0x7FFF0000
_SECCOMP_ERRNO = 0x00050000
_SECCOMP_KILL_PROCESS = 0x80000000
_NEW_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000

# name: (x86_64, aarch64)
_DENIED = {
    "keyctl": (250, 219),
    "add_key": (248, 217),
    "request_key": (249, 218),
    "ptrace": (101, 117),
    "bpf": (321, 280),
    "perf_event_open": (298, 241),
    "userfaultfd": (323, 282),
    "io_uring_setup": (425, 425),
    "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427),
    "unshare": (272, 97),
    "setns": (308, 268),
    "mount": (165, 40),
    "umount2": (166, 39),
    "pivot_root": (155, 41),
    "chroot": (161, 51),
    "open_tree": (428, 428),
    "move_mount": (429, 429),
    "fsopen": (430, 430),
    "fsconfig": (431, 431),
    "fsmount": (432, 432),
    "fspick": (433, 433),
    "mount_setattr": (442, 442),
    "kexec_load": (246, 104),
    "kexec_file_load": (320, 294),
    "init_module": (175, 105),
    "finit_module": (313, 273),
    "delete_module": (176, 106),
    "swapon": (167, 224),
    "swapoff": (168, 225),
    "reboot": (169, 142),
    "acct": (163, 89),
    "quotactl": (179, 60),
    "open_by_handle_at": (304, 265),
    "name_to_handle_at": (303, 264),
    "syslog": (103, 116),
    "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271),
    "vhangup": (153, 58),
    "lookup_dcookie": (212, 18),
}
_ARCHES = {"x86_64": (0xC000003E, 0, 56), "aarch64": (0xC00000B7, 1, 220)}  # audit arch, column, clone
_CLONE3 = 435


def seccomp_filter(machine: str | None = None) -> bytes | None:
    """The classic-BPF seccomp program bwrap loads before exec, or None on an unknown architecture.

    Refuses (EPERM) the calls in ``_DENIED`` and ``clone`` with a new-namespace flag; ``clone3`` gets
    ENOSYS so that the C library falls back to ``clone``; another architecture's calls kill.
    """
    arch = _ARCHES.get(machine or platform.machine())
    if arch is None:
        return None
    audit_arch, column, clone_nr = arch
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    program: list[tuple[int, int, int, int]] = [
        (ld, 0, 0, 4),  # seccomp_data.arch
        (jeq, 1, 0, audit_arch),
        (ret, 0, 0, _SECCOMP_KILL_PROCESS),
        (ld, 0, 0, 0),  # seccomp_data.nr
    ]
    if column == 0:  # x32 calls on x86_64
        program += [(jge, 0, 1, 0x40000000), (ret, 0, 0, _SECCOMP_ERRNO | errno.ENOSYS)]
    for numbers in _DENIED.values():
        program += [(jeq, 0, 1, numbers[column]), (ret, 0, 0, _SECCOMP_ERRNO | errno.EPERM)]
    program += [
        (jeq, 0, 1, _CLONE3),
        (ret, 0, 0, _SECCOMP_ERRNO | errno.ENOSYS),
        (jeq, 0, 3, clone_nr),
        (ld, 0, 0, 16),  # low half of args[0], the clone flags
        (jset, 0, 1, _NEW_NAMESPACES),
        (ret, 0, 0, _SECCOMP_ERRNO | errno.EPERM),
        (ret, 0, 0, _SECCOMP_ALLOW),
    ]
    return b"".join(struct.pack("=HBBI", *instruction) for instruction in program)


# --------------------------------------------------------------------------------------------------
# the sandbox's file system and environment


_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


def _system_binds() -> list[str]:
    args: list[str] = []
    for path in _SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    return args


def _covered(path: str, roots: Sequence[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


_prefixes: dict[str, tuple[str, ...]] = {}


def _python_prefixes(python: Path | None) -> tuple[str, tuple[str, ...]]:
    """(bin folder to put first on PATH, the installation folders to bind) of ``python``."""
    executable = str(python) if python is not None else sys.executable
    with _lock:
        known = _prefixes.get(executable)
    if known is None:
        if python is None or os.path.realpath(executable) == os.path.realpath(sys.executable):
            found = (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)
        else:
            try:
                out = subprocess.run(
                    [
                        executable,
                        "-I",
                        "-S",
                        "-c",
                        "import sys; print(sys.prefix, sys.base_prefix, sep='\\0')",
                    ],
                    capture_output=True,
                    timeout=30,
                    check=True,
                    env={},
                ).stdout
            except (OSError, subprocess.SubprocessError) as exc:
                raise SandboxError(
                    f"cannot run the sandbox's python {executable}: {exc}", "sandbox_python"
                ) from exc
            found = tuple(out.decode().strip().split("\0"))
        known = (os.path.join(found[0], "bin"), *found)
        with _lock:
            _prefixes[executable] = known
    return known[0], known[1:]


def _install_binds(prefixes: Sequence[str], taken: Sequence[str]) -> list[str]:
    """Read-only binds of the Python installation at its own paths, with 0755 parent folders."""
    roots: list[str] = []
    for prefix in sorted({os.path.realpath(p) for p in prefixes}):
        if prefix == "/" or _covered(prefix, taken) or _covered(prefix, roots):
            continue
        roots.append(prefix)
    args: list[str] = []
    made: set[str] = set()
    for root in roots:
        parents = []
        parent = os.path.dirname(root)
        while parent not in ("/", "") and parent not in made:
            parents.append(parent)
            parent = os.path.dirname(parent)
        for folder in reversed(parents):
            args += ["--perms", "0755", "--dir", folder]
            made.add(folder)
        args += ["--ro-bind", root, root]
    return args


def _etc_files(uid: int, gid: int) -> dict[str, bytes]:
    users = "root:x:0:0:root:/tmp:/usr/sbin/nologin\n"
    groups = "root:x:0:\n"
    if uid != 0:
        users += f"{'nobody' if uid == NOBODY else 'job'}:x:{uid}:{gid}:job:/tmp:/usr/sbin/nologin\n"
    if gid != 0:
        groups += f"{'nogroup' if gid == NOBODY else 'job'}:x:{gid}:\n"
    return {
        "/etc/passwd": users.encode(),
        "/etc/group": groups.encode(),
        "/etc/nsswitch.conf": b"passwd: files\ngroup: files\nshadow: files\nhosts: files\n",
        "/etc/hosts": b"127.0.0.1 localhost\n::1 localhost\n",
        "/etc/hostname": b"sandbox\n",
    }


def _gpu_env_and_binds(gpus: Sequence[int]) -> tuple[dict[str, str], list[str]]:
    args: list[str] = []
    for device in ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset"):
        if os.path.exists(device):
            args += ["--dev-bind", device, device]
    for index in gpus:
        device = f"/dev/nvidia{int(index)}"
        if not os.path.exists(device):
            raise SandboxError(f"GPU {index} is not on this machine ({device} is missing)", "gpu_unavailable")
        args += ["--dev-bind", device, device]
    for folder in ["/usr/local/nvidia", *sorted(str(p) for p in Path("/usr/local").glob("cuda*"))]:
        if os.path.isdir(folder) and not _covered(folder, ["/usr"]):
            args += ["--ro-bind", folder, folder]
    if os.path.isdir("/proc/driver/nvidia"):
        args += ["--ro-bind", "/proc/driver/nvidia", "/proc/driver/nvidia"]
    # Devices by UUID: the minor number of /dev/nvidia<i> is not CUDA's index.
    uuids = _gpu_uuids()
    visible = ",".join(uuids.get(int(i), str(int(i))) for i in gpus)
    env = {name: value for name, value in os.environ.items() if name.startswith("NVIDIA_")}
    env.update({"CUDA_VISIBLE_DEVICES": visible, "NVIDIA_VISIBLE_DEVICES": visible})
    library_path = [p for p in os.environ.get("LD_LIBRARY_PATH", "").split(":") if _covered(p, ["/usr"])]
    if library_path:
        env["LD_LIBRARY_PATH"] = ":".join(library_path)
    return env, args


def _gpu_uuids() -> dict[int, str]:
    """Device minor number -> GPU UUID, from /proc/driver/nvidia/gpus/*/information."""
    uuids: dict[int, str] = {}
    for information in Path("/proc/driver/nvidia/gpus").glob("*/information"):
        try:
            text = information.read_text()
        except OSError:
            continue
        minor = re.search(r"^Device Minor:\s*(\d+)", text, re.M)
        uuid = re.search(r"^GPU UUID:\s*(\S+)", text, re.M)
        if minor and uuid:
            uuids[int(minor.group(1))] = uuid.group(1)
    return uuids


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _environment(spec: SandboxSpec, python_bin: str, gpu_env: Mapping[str, str]) -> dict[str, str]:
    env = {
        "PATH": f"{python_bin}:/usr/bin:/bin",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "OMP_NUM_THREADS": str(_cpu_count()),
    }
    env.update(gpu_env)
    for name, value in spec.env.items():
        if not _ENV_NAME.match(name) or "\0" in value:
            raise SandboxError(f"invalid environment variable {name!r}", "sandbox_spec")
        env[name] = value
    return env


def _bwrap_args(
    spec: SandboxSpec,
    privileged: bool,
    env: Mapping[str, str],
    files: Mapping[str, int],
    gpu_args: Sequence[str],
    seccomp_fd: int | None,
) -> tuple[list[str], list[str]]:
    """bwrap's options (passed through a file descriptor) and the command it runs."""
    limits = spec.limits
    python_bin, prefixes = _python_prefixes(spec.python)
    args = [*_namespace_args(privileged), "--hostname", "sandbox", "--die-with-parent", "--new-session"]
    args += ["--cap-drop", "ALL"]
    if privileged:
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]  # for the drop to uid 65534 only
    args.append("--clearenv")
    for name, value in env.items():
        args += ["--setenv", name, value]
    args += _system_binds()
    args += ["--perms", "0755", "--dir", "/etc"]
    for target, fd in files.items():
        args += ["--perms", "0444", "--ro-bind-data", str(fd), target]
    if os.path.exists("/etc/ld.so.cache"):
        args += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    if os.path.islink("/etc/localtime"):
        args += ["--symlink", os.readlink("/etc/localtime"), "/etc/localtime"]
    elif os.path.isfile("/etc/localtime"):
        args += ["--ro-bind", "/etc/localtime", "/etc/localtime"]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/dev/shm"]
    args += ["--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]
    args += _install_binds(prefixes, [*_SYSTEM_DIRS, "/etc", "/proc", "/dev", "/data", "/job", "/out"])
    args += ["--ro-bind", str(spec.data_dir), "/data", "--ro-bind", str(spec.job_dir), "/job"]
    args += ["--bind", str(spec.out_dir), "/out"]
    args += gpu_args
    args += ["--remount-ro", "/", "--chdir", "/tmp"]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    command = [*(_drop_to_nobody(python_bin) if privileged else []), *spec.argv]
    return args, command


_DROP = (
    f"import ctypes,os,sys;os.setgroups([]);os.setgid({NOBODY});os.setuid({NOBODY});"
    "ctypes.CDLL(None).capset((ctypes.c_uint32*2)(0x20080522,0),(ctypes.c_uint32*6)());"
    "os.execvp(sys.argv[1],sys.argv[1:])"
)


def _drop_to_nobody(python_bin: str) -> list[str]:
    """The command prefix that makes the job uid/gid 65534 with no capabilities left."""
    if os.access("/usr/bin/setpriv", os.X_OK):
        return [
            "/usr/bin/setpriv",
            f"--reuid={NOBODY}",
            f"--regid={NOBODY}",
            "--clear-groups",
            "--inh-caps=-all",
            "--",
        ]
    # setuid() away from 0 clears the permitted and effective capabilities, capset() the inheritable
    # ones; no_new_privs is set by bwrap.
    return [os.path.join(python_bin, "python3"), "-I", "-S", "-c", _DROP]


# --------------------------------------------------------------------------------------------------
# running


class _LogPump(threading.Thread):
    """Drains the job's output: the first ``limit`` bytes to the log file, every line to ``on_line``."""

    def __init__(self, fd: int, log_fd: int, limit: int, on_line: Callable[[str], None] | None) -> None:
        super().__init__(name="sandbox-log", daemon=True)
        self.fd, self.log_fd, self.limit, self.on_line = fd, log_fd, limit, on_line
        self.written = 0
        self.truncated = False
        self.first_output: float | None = None
        self.last_lines: list[bytes] = []
        self._partial = bytearray()
        self._skipping = False
        self._callback_failed = False

    def run(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 64 * KIB)
            except InterruptedError:
                continue
            except OSError:
                break
            if not chunk:
                break
            if self.first_output is None:
                self.first_output = time.monotonic()
            room = self.limit - self.written
            if room > 0:
                part = chunk[:room]
                view = memoryview(part)
                while view:
                    view = view[os.write(self.log_fd, view) :]
                self.written += len(part)
            if len(chunk) > max(room, 0):
                self.truncated = True
            self._split(chunk)
        if self._partial and not self._skipping:
            self._line(bytes(self._partial))
        self._partial.clear()

    def _split(self, chunk: bytes) -> None:
        lines = chunk.split(b"\n")
        for index, piece in enumerate(lines):
            last = index == len(lines) - 1
            if not self._skipping:
                room = MAX_LINE - len(self._partial)
                self._partial += piece[:room]
                if len(piece) > room:  # too long: pass on its head, drop the rest up to the newline
                    self._line(bytes(self._partial))
                    self._partial.clear()
                    self._skipping = True
            if not last:
                if not self._skipping:
                    self._line(bytes(self._partial))
                self._partial.clear()
                self._skipping = False

    def _line(self, raw: bytes) -> None:
        if raw.strip():
            self.last_lines = [*self.last_lines[-3:], raw]
        if self.on_line is None or self._callback_failed:
            return
        try:
            self.on_line(raw.rstrip(b"\r").decode("utf-8", errors="replace"))
        except Exception:
            self._callback_failed = True
            log.exception("sandbox: on_line failed; no more lines are passed on for this job")


def _tasks_of(uid: int) -> int:
    """Number of tasks (threads included) of ``uid`` on this machine: RLIMIT_NPROC counts these."""
    count = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid == uid:
                count += len(os.listdir(f"/proc/{entry.name}/task"))
        except OSError:
            continue
    return count


def _tree_size(folder: Path, stop_at: int) -> int:
    """Bytes allocated under ``folder`` (stops counting past ``stop_at``)."""
    total = 0
    pending = [os.fspath(folder)]
    while pending and total <= stop_at:
        try:
            entries = list(os.scandir(pending.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            total += max(info.st_blocks * 512, 0)
            if stat.S_ISDIR(info.st_mode):
                pending.append(entry.path)
    return total


def _rlimits(spec: SandboxSpec, cgroups: _Cgroups | None, uid: int) -> list[tuple[int, tuple[int, int]]]:
    limits = spec.limits
    rlimits = [
        (resource.RLIMIT_CPU, (int(limits.cpu_time_s), int(limits.cpu_time_s) + 5)),
        (resource.RLIMIT_FSIZE, (limits.file_size_bytes, limits.file_size_bytes)),
        (resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files)),
        (resource.RLIMIT_CORE, (0, 0)),
    ]
    # The memory cgroup limits what the job really uses. Without one, the address space is capped
    # instead, which is cruder: PyTorch maps far more than it touches, and CUDA more still (GPU jobs
    # get no address-space cap).
    if not spec.gpus and (cgroups is None or cgroups.memory is None):
        rlimits.append((resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes)))
    if cgroups is None or cgroups.pids is None:
        # Counted per uid over the whole machine: whatever else runs as that uid counts as well.
        nproc = limits.processes + _tasks_of(uid)
        rlimits.append((resource.RLIMIT_NPROC, (nproc, nproc)))
    return rlimits


def _child_setup(
    procs_files: Sequence[bytes], rlimits: Sequence[tuple[int, tuple[int, int]]]
) -> Callable[[], None]:
    """Runs in the forked child before bwrap is executed: join the cgroups, set the rlimits."""

    def setup() -> None:
        pid = str(os.getpid()).encode()
        for path in procs_files:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, pid)
            finally:
                os.close(fd)
        for which, value in rlimits:
            resource.setrlimit(which, value)

    return setup


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _validate(spec: SandboxSpec) -> None:
    if not _NAME.match(spec.name):
        raise SandboxError(f"invalid sandbox name {spec.name!r}", "sandbox_spec")
    if not spec.argv or not all(isinstance(a, str) and "\0" not in a for a in spec.argv):
        raise SandboxError("argv must be a non-empty sequence of strings", "sandbox_spec")
    for label, folder in (("data_dir", spec.data_dir), ("job_dir", spec.job_dir), ("out_dir", spec.out_dir)):
        if not Path(folder).is_dir():
            raise SandboxError(f"{label} is not a folder", "sandbox_spec")


def _wait(pid: int, pidfd: int | None, timeout: float) -> int | None:
    """The wait status once ``pid`` (a child) has exited, else None after up to ``timeout`` seconds."""
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        return status
    if timeout > 0:
        if pidfd is not None:
            select.select([pidfd], [], [], timeout)
        else:
            time.sleep(timeout)
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
    return None


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _sandbox_init(info_fd: int, bwrap_pid: int) -> tuple[int, int | None] | None:
    """(pid, pidfd) of the sandbox's first process, from bwrap's ``--info-fd`` (None if it never came).

    bwrap exits as soon as it knows the job's exit status, before that process (and with it the pid
    namespace) is gone: run() waits for it.
    """
    data = b""
    deadline = time.monotonic() + KILL_TIMEOUT_S
    while time.monotonic() < deadline:
        ready, _, _ = select.select([info_fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(info_fd, 4096)
        if not chunk:
            break
        data += chunk
    match = re.search(rb'"child-pid"\s*:\s*(\d+)', data)
    if match is None:
        return None
    pid = int(match.group(1))
    pidfd = _pidfd(pid)
    try:  # the pid is still that process (bwrap's child), not a new one under a recycled number
        stat_line = Path(f"/proc/{pid}/stat").read_text()
        if int(stat_line.rsplit(")", 1)[1].split()[1]) != bwrap_pid:
            raise ProcessLookupError
    except (OSError, ValueError, IndexError):
        if pidfd is not None:
            os.close(pidfd)
        return None
    return pid, pidfd


def _await_init(init: tuple[int, int | None] | None) -> bool:
    """Wait until the sandbox's first process, and so its whole pid namespace, is gone."""
    if init is None:
        return True
    pid, pidfd = init
    deadline = time.monotonic() + KILL_TIMEOUT_S
    while True:
        if pidfd is not None:
            if select.select([pidfd], [], [], 0.05)[0]:
                return True
        else:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.01)
        if time.monotonic() >= deadline:
            return False
        if pidfd is not None:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)


def run(
    spec: SandboxSpec,
    *,
    on_line: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
) -> SandboxResult:
    """Run ``spec.argv`` in the sandbox until it ends, a limit is hit or ``cancel`` is set.

    Raises SandboxUnavailable or SandboxError when the sandbox itself cannot be set up; everything the
    job does (including failing to start its program) ends in a SandboxResult. When it returns, no
    process of the job is left.
    """
    bwrap = check_available()
    _validate(spec)
    limits = spec.limits
    privileged = _privileged()
    uid, gid = (NOBODY, NOBODY) if privileged else (os.getuid(), os.getgid())
    python_bin = _python_prefixes(spec.python)[0]
    gpu_env, gpu_args = _gpu_env_and_binds(spec.gpus) if spec.gpus else ({}, [])
    env = _environment(spec, python_bin, gpu_env)

    fds: list[int] = []
    info_fd = log_fd = -1
    proc: subprocess.Popen[bytes] | None = None
    pump: _LogPump | None = None
    pidfd: int | None = None
    init: tuple[int, int | None] | None = None
    cgroups: _Cgroups | None = None
    status: int | None = None
    start = time.monotonic()
    try:
        cgroups, problems = _Cgroups.create(spec.name, limits)
        rlimits = _rlimits(spec, cgroups, uid)
        if cgroups is None or cgroups.pids is None:
            problems.append(f"processes and threads are capped by RLIMIT_NPROC of uid {uid} instead")
        if cgroups is None or cgroups.memory is None:
            problems.append(
                "memory is capped by RLIMIT_AS alone" if not spec.gpus else "memory is not capped"
            )
        if problems:
            _warn_once(f"sandbox {spec.name}: " + "; ".join(problems), "; ".join(problems))
        files = {target: _memfd("etc", data) for target, data in _etc_files(uid, gid).items()}
        fds += files.values()
        program = seccomp_filter()
        seccomp_fd = None
        if program is not None:
            seccomp_fd = _memfd("seccomp", program)
            fds.append(seccomp_fd)
        else:
            _warn_once(f"sandbox {spec.name}: no seccomp filter for {platform.machine()}", "seccomp")
        info_fd, info_write = os.pipe()
        fds.append(info_write)
        args, command = _bwrap_args(spec, privileged, env, files, gpu_args, seccomp_fd)
        args += ["--info-fd", str(info_write)]
        args_fd = _memfd("args", b"".join(os.fsencode(a) + b"\0" for a in args))
        fds.append(args_fd)
        log_fd = os.open(spec.log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                [bwrap, "--args", str(args_fd), "--", *command],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=fds,
                env={"PATH": "/usr/bin:/bin"},
                preexec_fn=_child_setup(cgroups.procs_files() if cgroups else [], rlimits),
                start_new_session=True,
                bufsize=0,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise SandboxError(f"cannot start the sandbox: {exc}", "sandbox_start") from exc
        for fd in fds:
            os.close(fd)
        fds.clear()
        assert proc.stdout is not None
        pump = _LogPump(proc.stdout.fileno(), log_fd, limits.log_bytes, on_line)
        pump.start()
        pidfd = _pidfd(proc.pid)
        init = _sandbox_init(info_fd, proc.pid)
        reason, status = _watch(spec, proc, pidfd, cgroups, cancel, start)
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if proc is not None and proc.returncode is None:
            _kill(proc, cgroups)
            proc.wait()
        namespace_gone = _await_init(init)
        wall_s = time.monotonic() - start
        survivors = [] if cgroups is None or cgroups.kill_all() else cgroups.alive()
        if pump is not None:
            pump.join(KILL_TIMEOUT_S)
        if proc is not None and proc.stdout is not None and not (pump is not None and pump.is_alive()):
            proc.stdout.close()
        for fd in [*fds, info_fd, log_fd, pidfd, init[1] if init else None]:
            if fd is not None and fd >= 0:
                os.close(fd)
        peak, oom_kills, failcnt = cgroups.memory_stats() if cgroups is not None else (None, 0, 0)
        if cgroups is not None:
            cgroups.remove()

    assert pump is not None and status is not None
    if survivors or not namespace_gone:
        message = f"processes of the job outlived SIGKILL ({survivors or 'its pid namespace'})"
        raise SandboxError(message, "sandbox_cleanup")
    if pump.is_alive():
        message = "the job's output was still open after every process was killed"
        raise SandboxError(message, "sandbox_cleanup")
    exit_code: int | None
    killed_by: int | None
    if os.WIFSIGNALED(status):
        exit_code, killed_by = None, os.WTERMSIG(status)
    else:
        exit_code, killed_by = os.WEXITSTATUS(status), None
        if exit_code > 128 and exit_code - 128 < signal.NSIG:  # bwrap reports a signal as 128 + N
            exit_code, killed_by = None, exit_code - 128
    if reason is None:
        reason = _reason(exit_code, killed_by, oom_kills, failcnt, pump.last_lines)
    first = None if pump.first_output is None else pump.first_output - start
    return SandboxResult(
        exit_code=exit_code,
        signal=killed_by,
        reason=reason,
        wall_s=wall_s,
        first_output_s=first,
        log_truncated=pump.truncated,
        peak_memory_bytes=peak,
    )


def _kill(proc: subprocess.Popen[bytes], cgroups: _Cgroups | None) -> None:
    """SIGKILL bwrap (its pid namespace dies with it) and everything in the job's cgroups."""
    for action in (lambda: os.killpg(proc.pid, signal.SIGKILL), lambda: os.kill(proc.pid, signal.SIGKILL)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            action()
    if cgroups is not None:
        for folder in cgroups.folders:
            for pid in _cgroup_pids(folder):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)


def _watch(
    spec: SandboxSpec,
    proc: subprocess.Popen[bytes],
    pidfd: int | None,
    cgroups: _Cgroups | None,
    cancel: threading.Event | None,
    start: float,
) -> tuple[str | None, int]:
    """Wait for bwrap to exit, killing it at a limit; (the kill's reason or None, the wait status)."""
    limits = spec.limits
    deadline = start + limits.wall_time_s
    watch_size = not os.path.ismount(spec.out_dir)
    next_size_check = start + OUTPUT_CHECK_S
    reason: str | None = None
    killed_at = 0.0
    while True:
        now = time.monotonic()
        if reason is None:
            if cancel is not None and cancel.is_set():
                reason = "cancelled"
            elif now >= deadline:
                reason = "wall_time"
            elif watch_size and now >= next_size_check:
                next_size_check = now + OUTPUT_CHECK_S
                if _tree_size(spec.out_dir, limits.output_bytes) > limits.output_bytes:
                    reason = "output_full"
        if reason is not None and now - killed_at >= 0.5:
            _kill(proc, cgroups)
            killed_at = now
        timeout = 0.02 if reason is not None else max(0.0, min(POLL_S, deadline - now))
        status = _wait(proc.pid, pidfd, timeout)
        if status is not None:
            return reason, status


def _reason(
    exit_code: int | None,
    killed_by: int | None,
    oom_kills: int,
    failcnt: int,
    last_lines: Sequence[bytes],
) -> str:
    """Why a job that was not killed by the watcher ended."""
    tail = b"\n".join(last_lines[-2:])
    if oom_kills > 0:
        return "memory"
    if killed_by == signal.SIGXCPU:
        return "cpu_time"
    if killed_by == signal.SIGXFSZ:
        return "file_size"
    if killed_by is not None:
        return "memory" if failcnt > 0 and killed_by == signal.SIGKILL else "killed"
    if exit_code:
        if failcnt > 0 or tail.lstrip().startswith(b"MemoryError") or b"\nMemoryError" in tail:
            return "memory"
        if b"[Errno 27] File too large" in tail:
            return "file_size"
    return "exited"
