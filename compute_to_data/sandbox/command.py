"""bwrap's command line: the namespaces, the capabilities, the binds and mounts of the job's file
system, and the drop to uid 65534 (:data:`NOBODY`) in front of the job's own command."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from .filesystem import _SYSTEM_DIRS, _install_binds, _python_prefixes, _system_binds
from .spec import NOBODY, SandboxSpec


def _namespace_args(privileged: bool) -> list[str]:
    if privileged:
        # No user namespace: the job must be a real unprivileged uid (RLIMIT_NPROC, keyrings, files).
        return ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    return [
        "--unshare-user",
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--disable-userns",
    ]


def _bwrap_args(
    spec: SandboxSpec,
    privileged: bool,
    env: Mapping[str, str],
    files: Mapping[str, int],
    gpu_args: Sequence[str],
    seccomp_fd: int | None,
) -> tuple[list[str], list[str]]:
    """bwrap's options (passed through a file descriptor) and the command it runs."""
    limits = spec.limits
    python_bin, prefixes = _python_prefixes(spec.python)
    args = [*_namespace_args(privileged), "--hostname", "sandbox", "--die-with-parent", "--new-session"]
    args += ["--cap-drop", "ALL"]
    if privileged:
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]  # for the drop to uid 65534 only
    args.append("--clearenv")
    for name, value in env.items():
        args += ["--setenv", name, value]
    args += _system_binds()
    args += ["--perms", "0755", "--dir", "/etc"]
    for target, fd in files.items():
        args += ["--perms", "0444", "--ro-bind-data", str(fd), target]
    if os.path.exists("/etc/ld.so.cache"):
        args += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    if os.path.islink("/etc/localtime"):
        args += ["--symlink", os.readlink("/etc/localtime"), "/etc/localtime"]
    elif os.path.isfile("/etc/localtime"):
        args += ["--ro-bind", "/etc/localtime", "/etc/localtime"]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/dev/shm"]
    args += ["--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]
    args += _install_binds(prefixes, [*_SYSTEM_DIRS, "/etc", "/proc", "/dev", "/data", "/job", "/out"])
    args += ["--ro-bind", str(spec.data_dir), "/data", "--ro-bind", str(spec.job_dir), "/job"]
    args += ["--bind", str(spec.out_dir), "/out"]
    args += gpu_args
    args += ["--remount-ro", "/", "--chdir", "/tmp"]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    command = [*(_drop_to_nobody(python_bin) if privileged else []), *spec.argv]
    return args, command


_DROP = (
    f"import ctypes,os,sys;os.setgroups([]);os.setgid({NOBODY});os.setuid({NOBODY});"
    "ctypes.CDLL(None).capset((ctypes.c_uint32*2)(0x20080522,0),(ctypes.c_uint32*6)());"
    "os.execvp(sys.argv[1],sys.argv[1:])"
)


def _drop_to_nobody(python_bin: str) -> list[str]:
    """The command prefix that makes the job uid/gid 65534 with no capabilities left."""
    if os.access("/usr/bin/setpriv", os.X_OK):
        return [
            "/usr/bin/setpriv",
            f"--reuid={NOBODY}",
            f"--regid={NOBODY}",
            "--clear-groups",
            "--inh-caps=-all",
            "--",
        ]
    # setuid() away from 0 clears the permitted and effective capabilities, capset() the inheritable
    # ones; no_new_privs is set by bwrap.
    return [os.path.join(python_bin, "python3"), "-I", "-S", "-c", _DROP]
