"""Whether bubblewrap can build a sandbox on this machine: checked once, by building one."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading

from .command import _namespace_args
from .errors import SandboxUnavailable
from .filesystem import _system_binds
from .spec import _privileged

INSTALL_HINT = "install bubblewrap: `apt-get install bubblewrap` (`make install` does it)"

_lock = threading.Lock()
_bwrap: str | None = None


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


__all__ = ["INSTALL_HINT", "check_available"]
