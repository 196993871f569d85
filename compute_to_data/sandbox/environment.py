"""The job's environment: cleared, then the few variables every job gets, the GPU's, and the job's own."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from .errors import SandboxError
from .spec import SandboxSpec

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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
