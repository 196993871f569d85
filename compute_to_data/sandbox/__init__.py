"""Run an untrusted program in a bubblewrap sandbox (docs/compute.md, "The algorithm interface").

Standard library only. What a job sees and how it is held: :mod:`compute_to_data.sandbox.process`.
"""

from .process import (
    GIB,
    MAX_LINE,
    MIB,
    NOBODY,
    REASONS,
    Limits,
    SandboxError,
    SandboxResult,
    SandboxSpec,
    SandboxUnavailable,
    check_available,
    prepare_output,
    probe_cgroups,
    release_output,
    run,
    seccomp_filter,
    sweep,
)

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
    "prepare_output",
    "probe_cgroups",
    "release_output",
    "run",
    "seccomp_filter",
    "sweep",
]
