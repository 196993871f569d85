"""The raw-row index built in a child process capped in memory and time (docs/compute.md, "Dataset
size").

The index costs memory in proportion to the dataset's tokens (10 MiB of token-dense text took some
280 MiB), and the dataset is the publisher's: built inside the worker, a dataset shaped to hurt could
exhaust it. So :func:`build_index` runs ``python -P -m compute_to_data.policy.index_process`` with a
cleared environment (one thread per numeric library; Arrow on the system allocator, so that its
reserved address space does not count against the cap), sends it the request as one line of JSON on
its input, and the child:

1. caps itself (``RLIMIT_AS`` at ``memory_bytes``, ``RLIMIT_CPU`` at ``cpu_s``, no core dumps) before
   it opens a byte of the dataset, and exits at once when its input ends (the worker is gone);
2. builds the index (:meth:`RawIndex.from_files`) and writes it to a file in the job's private work
   folder (:mod:`.index_file`), then exits 0; a ``MemoryError`` exits :data:`EXIT_MEMORY`, any other
   error :data:`EXIT_FAILED` after printing only the error's type name.

The worker waits at most ``wall_s``, loads the file and removes it. A child that ran out of memory,
used up its CPU time or outlived the wall clock (killed then) ends in :class:`IndexBuildError` with a
fixed code and message: the worker lives on, and no byte of the dataset reaches the error or the log.

Most of a child's start is loading its libraries (some 0.7 s), so a child is started ahead of need
(:func:`prestart`, then one after each build takes the ready one): it loads them and waits for its
request. Each child builds one index and exits.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from datamarket.errors import DatamarketError
from datamarket.jobs.dataset_size import RAW_INDEX_MEMORY_MB

from . import index_file
from .limits import PolicyLimits
from .raw_index import RawIndex

log = logging.getLogger("datamarket.compute")

MIB = 1024 * 1024
#: The child's exit status when the index did not fit in its memory.
EXIT_MEMORY = 3
#: The child's exit status on any other error.
EXIT_FAILED = 4
#: The child's exit status when the worker closed its input (or never sent a request).
EXIT_ORPHANED = 5
#: How often the worker looks at the child and the job's cancel event (seconds).
POLL_S = 0.05
#: The request on stdin is small JSON: paths and numbers.
_MAX_REQUEST = 1 << 20
#: What the child's environment keeps of the worker's.
_KEPT = ("PATH", "LANG", "LC_ALL", "TMPDIR")
_SINGLE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "ARROW_DEFAULT_MEMORY_POOL": "system",
}
FILE_NAME = "raw_index.npz"

#: The failures a job may show, each with its fixed message.
FAILURES = {
    "raw_index_memory_exceeded": "indexing the dataset for the output policy needed more memory than "
    "this provider's workers allow",
    "raw_index_time_exceeded": "indexing the dataset for the output policy took longer than this "
    "provider's workers allow",
    "raw_index_failed": "the dataset could not be indexed for the output policy",
}


@dataclass(frozen=True)
class IndexLimits:
    """What the child may use: address space (bytes) and CPU seconds; the wall clock gets twice the
    CPU time and 10 s more (a busy machine), after which the child is killed."""

    memory_bytes: int = RAW_INDEX_MEMORY_MB * MIB
    cpu_s: int = 300

    @property
    def wall_s(self) -> float:
        return 2.0 * self.cpu_s + 10.0


class IndexBuildError(DatamarketError):
    """The index could not be built within the limits; ``code`` is a key of :data:`FAILURES` and the
    message is that key's, whatever happened."""

    def __init__(self, code: str) -> None:
        super().__init__(FAILURES[code])
        self.code = code


class IndexBuildCancelled(Exception):
    """The job's cancel event was set while the index was being built (the child is killed)."""


def build_index(
    paths: Iterable[Path],
    folder: Path,
    *,
    limits: IndexLimits = IndexLimits(),  # frozen, so a shared default is safe
    policy_limits: PolicyLimits = PolicyLimits(),
    cancel: threading.Event | None = None,
) -> RawIndex:
    """The index of ``paths``, built in a capped child process; its file goes in ``folder`` (the
    job's private work folder, not one the sandbox sees) and is removed once loaded."""
    target = Path(folder) / FILE_NAME
    target.unlink(missing_ok=True)
    request = {
        "paths": [str(p) for p in paths],
        "out": str(target),
        "memory_bytes": int(limits.memory_bytes),
        "cpu_s": int(limits.cpu_s),
        "run_length": policy_limits.run_length,
        "min_column_cardinality": policy_limits.min_column_cardinality,
    }
    started = time.monotonic()
    status = _run_child(request, limits.wall_s, cancel)
    elapsed = time.monotonic() - started
    try:
        if status != 0:
            code = _failure_code(status)
            log.warning(
                "raw-row index: the child ended with status %s after %.1f s (%s)", status, elapsed, code
            )
            raise IndexBuildError(code)
        try:
            return index_file.load(target)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("raw-row index: the child's file does not load (%s)", type(exc).__name__)
            raise IndexBuildError("raw_index_failed") from None
    finally:
        target.unlink(missing_ok=True)


def _failure_code(status: int | None) -> str:
    """``status``: the child's exit status, minus the signal that killed it, or None when the wall
    clock ran out."""
    if status is None or status in (-signal.SIGXCPU, -signal.SIGKILL):
        return "raw_index_time_exceeded"
    if status == EXIT_MEMORY:
        return "raw_index_memory_exceeded"
    return "raw_index_failed"


def _child_environment() -> dict[str, str]:
    package_root = str(Path(__file__).resolve().parents[2])
    env = {k: os.environ[k] for k in _KEPT if k in os.environ}
    inherited = os.environ.get("PYTHONPATH")
    env["PYTHONPATH"] = package_root + (os.pathsep + inherited if inherited else "")
    env.update(_SINGLE_THREAD)
    return env


def _spawn() -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-P", "-m", __name__],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=_child_environment(),
        cwd="/",
        close_fds=True,
        start_new_session=True,
    )


def _end(child: subprocess.Popen) -> None:
    """Kill ``child`` if it still runs, reap it and close its pipes."""
    if child.poll() is None:
        child.kill()
        child.wait()
    for pipe in (child.stdin, child.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()


class _Spares:
    """Children started ahead of need: each has loaded its libraries (most of a child's start) and
    waits for its one request. A build takes a spare and starts the next one; without a spare ready
    it starts its own. A spare whose worker is gone reads the end of its input and exits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready: list[subprocess.Popen] = []

    def take(self) -> subprocess.Popen:
        child = None
        with self._lock:
            while self._ready and child is None:
                candidate = self._ready.pop()
                if candidate.poll() is None:
                    child = candidate
                else:
                    _end(candidate)
        self.prestart()
        return child or _spawn()

    def prestart(self) -> None:
        """Have one spare ready (started now where there is none)."""
        with self._lock:
            if not self._ready:
                self._ready.append(_spawn())

    def close(self) -> None:
        with self._lock:
            ready, self._ready = self._ready, []
        for child in ready:
            _end(child)


_SPARES = _Spares()


def prestart() -> None:
    """Start a spare child now, so that the first job's index does not wait for its libraries."""
    _SPARES.prestart()


def close() -> None:
    """End the spare children (the worker stops)."""
    _SPARES.close()


def _run_child(request: dict, wall_s: float, cancel: threading.Event | None) -> int | None:
    """Run the child to its end; its exit status (negative: the signal), None when killed at
    ``wall_s``. Raises :class:`IndexBuildCancelled` when ``cancel`` is set meanwhile."""
    child = _SPARES.take()
    try:
        if child.stdin is None or child.stdout is None:
            raise OSError("the child's pipes are missing")
        # The child's input stays open while it runs: its end tells the child that the worker is gone.
        with contextlib.suppress(BrokenPipeError):  # a child that died at once: its status says why
            child.stdin.write(json.dumps(request).encode() + b"\n")
            child.stdin.flush()
        deadline = time.monotonic() + wall_s
        while child.poll() is None:
            if cancel is not None and cancel.is_set():
                raise IndexBuildCancelled
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=min(POLL_S, left))
        said = child.stdout.read(200).decode("ascii", "replace").strip()
        if child.returncode == EXIT_FAILED and said:
            log.warning("raw-row index: the child failed (%s)", said)
        return child.returncode
    finally:
        _end(child)


# ------------------------------------------------------------------------------ the child's side


def _cap_self(memory_bytes: int, cpu_s: int) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


def _exit_with_the_worker(fd: int) -> None:
    """Exit at once when the worker closes the input ``fd`` (it ended, or it died)."""

    def watch() -> None:
        while os.read(fd, 4096):
            pass
        os._exit(EXIT_ORPHANED)

    threading.Thread(target=watch, name="worker-watch", daemon=True).start()


def _read_line(fd: int) -> bytes:
    """One line from ``fd``, read unbuffered (nothing after it is taken from the pipe)."""
    line = bytearray()
    while not line.endswith(b"\n") and len(line) < _MAX_REQUEST:
        byte = os.read(fd, 1)
        if not byte:
            break
        line += byte
    return bytes(line)


def main() -> int:
    """The child: read the request, cap itself, build, save; the exit status says what happened."""
    try:
        line = _read_line(sys.stdin.fileno())
        if not line.endswith(b"\n"):
            return EXIT_ORPHANED  # the worker went away before it sent a request (a spare's end)
        request = json.loads(line)
        _cap_self(int(request["memory_bytes"]), int(request["cpu_s"]))
        _exit_with_the_worker(sys.stdin.fileno())
        limits = PolicyLimits(
            run_length=int(request["run_length"]),
            min_column_cardinality=int(request["min_column_cardinality"]),
        )
        index = RawIndex.from_files([Path(p) for p in request["paths"]], limits=limits)
        index_file.save(index, Path(request["out"]))
    except MemoryError:
        return EXIT_MEMORY
    except Exception as exc:  # the type only: a message could quote the dataset
        print(type(exc).__name__, flush=True)
        return EXIT_FAILED
    return 0


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    os._exit(status)  # not through the interpreter's shutdown, which would wait on the watching thread

__all__ = [
    "FAILURES",
    "IndexBuildCancelled",
    "IndexBuildError",
    "IndexLimits",
    "build_index",
    "close",
    "prestart",
]
