"""What the sandbox raises when it cannot run a job (not the job's own failure)."""

from __future__ import annotations


class SandboxError(Exception):
    """The sandbox could not run the job (not the job's own failure); ``code`` is machine-readable."""

    code = "sandbox_error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class SandboxUnavailable(SandboxError):
    """bubblewrap is missing, or cannot create namespaces on this machine."""

    code = "sandbox_unavailable"


__all__ = ["SandboxError", "SandboxUnavailable"]
