"""What a job to run is: its folders, its command, its limits, and the user it runs as."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SandboxError

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

#: uid and gid the job runs as when the worker is root.
NOBODY = 65534

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


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


def _validate(spec: SandboxSpec) -> None:
    if not _NAME.match(spec.name):
        raise SandboxError(f"invalid sandbox name {spec.name!r}", "sandbox_spec")
    if not spec.argv or not all(isinstance(a, str) and "\0" not in a for a in spec.argv):
        raise SandboxError("argv must be a non-empty sequence of strings", "sandbox_spec")
    for label, folder in (("data_dir", spec.data_dir), ("job_dir", spec.job_dir), ("out_dir", spec.out_dir)):
        if not Path(folder).is_dir():
            raise SandboxError(f"{label} is not a folder", "sandbox_spec")


def _privileged() -> bool:
    """Whether the worker is root: the job then runs as :data:`NOBODY`, without a user namespace."""
    return os.geteuid() == 0


__all__ = ["GIB", "KIB", "MIB", "NOBODY", "Limits", "SandboxSpec"]
