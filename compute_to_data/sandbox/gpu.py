"""What a GPU job gets besides a CPU job's sandbox: its NVIDIA devices, the driver's files and the
environment that names its devices."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from .errors import SandboxError
from .filesystem import _covered


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
    env = _host_gpu_env()
    env.update({"CUDA_VISIBLE_DEVICES": visible, "NVIDIA_VISIBLE_DEVICES": visible})
    return env, args


def _host_gpu_env() -> dict[str, str]:
    """What of the worker's own environment a GPU job gets: the ``NVIDIA_*`` variables, and the
    folders of ``LD_LIBRARY_PATH`` under ``/usr`` (the only ones bound in)."""
    env = {name: value for name, value in os.environ.items() if name.startswith("NVIDIA_")}
    library_path = [p for p in os.environ.get("LD_LIBRARY_PATH", "").split(":") if _covered(p, ["/usr"])]
    if library_path:
        env["LD_LIBRARY_PATH"] = ":".join(library_path)
    return env


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
