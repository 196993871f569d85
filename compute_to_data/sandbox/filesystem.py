"""The sandbox's file system: the ``/out`` tmpfs on the host, and the host folders bound in.

:func:`prepare_output` makes the job's output folder a size-capped tmpfs before the run and
:func:`release_output` unmounts it after; where no tmpfs can be mounted the run measures the folder
instead (:func:`_tree_size`). Inside, the job sees ``/usr`` (and the ``/lib``, ``/bin``... links), the
Python installation that runs it (read-only, at its host path) and a minimal ``/etc``.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from .errors import SandboxError
from .spec import NOBODY, _privileged

log = logging.getLogger(__name__)

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


_lock = threading.Lock()
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


__all__ = ["prepare_output", "release_output"]
