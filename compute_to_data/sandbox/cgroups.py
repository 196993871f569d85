"""The job's cgroups: one per job, capping its processes and threads (``pids``) and its memory.

They are made under ``datamarket/`` in the worker's own cgroup (cgroup v1 ``pids`` and ``memory``
hierarchies, or one cgroup v2 group). Under cgroup v2 a worker whose own cgroup holds processes (a
container's, a service's) must be given an empty delegated cgroup v2 folder instead:
:func:`configure`, which the worker calls at start-up with its ``sandbox_cgroup`` setting
(``DATAMARKET_WORKER_SANDBOX_CGROUP``).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .spec import Limits

log = logging.getLogger(__name__)

#: Folder under the worker's own cgroup that holds one cgroup per job.
CGROUP_PARENT = "datamarket"
#: How long cleanup may take to see every process of a job gone (seconds).
KILL_TIMEOUT_S = 10.0

#: A delegated, empty cgroup v2 folder that holds the job cgroups instead (see _cgroup_bases).
_cgroup_root: Path | None = None


def configure(cgroup_root: Path | None) -> None:
    """Make the job cgroups under ``cgroup_root`` (an empty, delegated cgroup v2 folder) from now on;
    None: under ``datamarket/`` in this process's own cgroup."""
    global _cgroup_root
    _cgroup_root = None if cgroup_root is None else Path(cgroup_root)


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
    started in a container's or a service's cgroup), :func:`configure` an empty cgroup v2 folder
    delegated to the worker (e.g. systemd ``Delegate=yes`` and a sub-folder).
    """
    mounts = _mountinfo()
    own = _own_cgroups()
    for root, point, fstype, _ in mounts:
        if fstype == "cgroup2" and point == "/sys/fs/cgroup" and "" in own:
            if _cgroup_root is not None:
                return [(2, "", _cgroup_root)]
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
            if parent.name == CGROUP_PARENT and parent != _cgroup_root:
                with contextlib.suppress(OSError):  # EBUSY while other jobs run
                    parent.rmdir()
        return removed


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
        if base.name == CGROUP_PARENT and base != _cgroup_root:
            with contextlib.suppress(OSError):  # EBUSY while other jobs run
                base.rmdir()


__all__ = ["CGROUP_PARENT", "KILL_TIMEOUT_S", "configure", "probe_cgroups", "sweep"]
