"""The seccomp filter bwrap loads before it runs the job: the kernel calls a job never needs."""

from __future__ import annotations

import errno
import platform
import struct

_SECCOMP_ALLOW = 0x7FFF0000
_SECCOMP_ERRNO = 0x00050000
_SECCOMP_KILL_PROCESS = 0x80000000
_NEW_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000

# name: (x86_64, aarch64)
_DENIED = {
    "keyctl": (250, 219),
    "add_key": (248, 217),
    "request_key": (249, 218),
    "ptrace": (101, 117),
    "bpf": (321, 280),
    "perf_event_open": (298, 241),
    "userfaultfd": (323, 282),
    "io_uring_setup": (425, 425),
    "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427),
    "unshare": (272, 97),
    "setns": (308, 268),
    "mount": (165, 40),
    "umount2": (166, 39),
    "pivot_root": (155, 41),
    "chroot": (161, 51),
    "open_tree": (428, 428),
    "move_mount": (429, 429),
    "fsopen": (430, 430),
    "fsconfig": (431, 431),
    "fsmount": (432, 432),
    "fspick": (433, 433),
    "mount_setattr": (442, 442),
    "kexec_load": (246, 104),
    "kexec_file_load": (320, 294),
    "init_module": (175, 105),
    "finit_module": (313, 273),
    "delete_module": (176, 106),
    "swapon": (167, 224),
    "swapoff": (168, 225),
    "reboot": (169, 142),
    "acct": (163, 89),
    "quotactl": (179, 60),
    "open_by_handle_at": (304, 265),
    "name_to_handle_at": (303, 264),
    "syslog": (103, 116),
    "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271),
    "vhangup": (153, 58),
    "lookup_dcookie": (212, 18),
}
_ARCHES = {"x86_64": (0xC000003E, 0, 56), "aarch64": (0xC00000B7, 1, 220)}  # audit arch, column, clone
_CLONE3 = 435


def seccomp_filter(machine: str | None = None) -> bytes | None:
    """The classic-BPF seccomp program bwrap loads before exec, or None on an unknown architecture.

    Refuses (EPERM) the calls in ``_DENIED`` and ``clone`` with a new-namespace flag; ``clone3`` gets
    ENOSYS so that the C library falls back to ``clone``; another architecture's calls kill.
    """
    arch = _ARCHES.get(machine or platform.machine())
    if arch is None:
        return None
    audit_arch, column, clone_nr = arch
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    program: list[tuple[int, int, int, int]] = [
        (ld, 0, 0, 4),  # seccomp_data.arch
        (jeq, 1, 0, audit_arch),
        (ret, 0, 0, _SECCOMP_KILL_PROCESS),
        (ld, 0, 0, 0),  # seccomp_data.nr
    ]
    if column == 0:  # x32 calls on x86_64
        program += [(jge, 0, 1, 0x40000000), (ret, 0, 0, _SECCOMP_ERRNO | errno.ENOSYS)]
    for numbers in _DENIED.values():
        program += [(jeq, 0, 1, numbers[column]), (ret, 0, 0, _SECCOMP_ERRNO | errno.EPERM)]
    program += [
        (jeq, 0, 1, _CLONE3),
        (ret, 0, 0, _SECCOMP_ERRNO | errno.ENOSYS),
        (jeq, 0, 3, clone_nr),
        (ld, 0, 0, 16),  # low half of args[0], the clone flags
        (jset, 0, 1, _NEW_NAMESPACES),
        (ret, 0, 0, _SECCOMP_ERRNO | errno.EPERM),
        (ret, 0, 0, _SECCOMP_ALLOW),
    ]
    return b"".join(struct.pack("=HBBI", *instruction) for instruction in program)


__all__ = ["seccomp_filter"]
