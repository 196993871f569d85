"""Running a job: bwrap spawned in the job's cgroups with its rlimits, watched until it ends or a limit
is hit, killed, and what happened (:class:`SandboxResult`)."""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import re
import resource
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .availability import check_available
from .cgroups import KILL_TIMEOUT_S, _cgroup_pids, _Cgroups
from .command import _bwrap_args
from .environment import _environment
from .errors import SandboxError
from .filesystem import _etc_files, _python_prefixes, _tree_size
from .gpu import _gpu_env_and_binds
from .logs import _LogPump
from .seccomp import seccomp_filter
from .spec import NOBODY, SandboxSpec, _privileged, _validate

log = logging.getLogger(__name__)

#: How often the watcher looks at the clock, the cancel event and the output size (seconds).
POLL_S = 0.05
#: How often the size of a plain (non-tmpfs) output folder is measured (seconds).
OUTPUT_CHECK_S = 0.5

REASONS = ("exited", "wall_time", "cpu_time", "memory", "output_full", "file_size", "cancelled", "killed")


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


_lock = threading.Lock()
_warned: set[str] = set()


def _warn_once(message: str, key: str) -> None:
    """A warning the first time ``key`` is seen in this process, a debug line afterwards."""
    with _lock:
        first = key not in _warned
        _warned.add(key)
    log.log(logging.WARNING if first else logging.DEBUG, "%s", message)


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


__all__ = ["REASONS", "SandboxResult", "run"]
