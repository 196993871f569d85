"""Run an untrusted program in a bubblewrap sandbox (docs/compute.md, "The algorithm interface").

Standard library only: this package also runs on a GPU machine that has nothing but Python.

The package: ``spec`` (the job, its limits, the user it runs as), ``errors``, ``availability`` (bwrap
found and seen to work), ``filesystem`` (the ``/out`` tmpfs, the host folders bound in), ``command``
(bwrap's command line), ``environment`` and ``gpu`` (what the job's environment and devices are),
``seccomp`` (the filter), ``cgroups`` (one per job), ``logs`` (the job's output) and ``process``
(spawning, watching and killing bwrap; the result).

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
  own cgroup holds processes (a container's, a service's) must name an empty delegated cgroup
  instead: :func:`configure`, called at the worker's start-up with its ``sandbox_cgroup`` setting;
- end: at the end of :func:`run` no process of the job is alive (the pid namespace dies with its
  first process, and every pid left in the cgroup is killed) and the cgroups are removed.

stdout and stderr go, merged, to ``log_path`` (at most ``log_bytes``; the rest is drained and
dropped) and, line by line, to ``on_line`` (called from a helper thread, lines cut at 4 KiB).
"""

from .availability import check_available
from .cgroups import configure, probe_cgroups, sweep
from .errors import SandboxError, SandboxUnavailable
from .filesystem import prepare_output, release_output
from .logs import MAX_LINE
from .process import REASONS, SandboxResult, run
from .seccomp import seccomp_filter
from .spec import GIB, MIB, NOBODY, Limits, SandboxSpec

__all__ = [
    "GIB",
    "MAX_LINE",
    "MIB",
    "NOBODY",
    "REASONS",
    "Limits",
    "SandboxError",
    "SandboxResult",
    "SandboxSpec",
    "SandboxUnavailable",
    "check_available",
    "configure",
    "prepare_output",
    "probe_cgroups",
    "release_output",
    "run",
    "seccomp_filter",
    "sweep",
]
