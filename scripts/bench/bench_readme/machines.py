"""The machine a results file says its figures were taken on, in a few words."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench_readme.markdown import general

NOT_RECORDED = "not recorded"


def describe(data: Any) -> str:
    """``2 cores, Intel(R) Xeon(R) Processor, Python 3.11.7``; the GPU first when there is one."""
    if not isinstance(data, Mapping):
        return NOT_RECORDED
    machine = data.get("machine")
    machine = machine if isinstance(machine, Mapping) else {}
    cores = machine.get("cores", machine.get("cpus", data.get("cpus")))
    parts = [
        str(machine["gpu"]) if machine.get("gpu") else None,
        f"{cores} CPUs" if cores else None,
        str(machine.get("cpu") or machine.get("processor") or "") or None,
        f"Python {machine['python']}" if machine.get("python") else None,
        f"torch {machine['torch']}" if machine.get("torch") else None,
        f"CUDA {machine['cuda']}" if machine.get("cuda") else None,
        f"kernel {machine['kernel']}" if machine.get("kernel") else None,
    ]
    if isinstance(machine.get("reference_sha256_mib_s"), int | float):
        parts.append(f"the host's sha256 at {general(machine['reference_sha256_mib_s'])} MiB/s")
    shown = [p for p in parts if p]
    return ", ".join(shown) if shown else NOT_RECORDED
