"""Which program a process of this machine runs, read from Linux's /proc.

A recorded pid is taken for a program only while that program runs under it. A process shows no
command line while it is a zombie (it has exited), while it is a kernel thread, and for a moment in
the middle of an exec (the new program is loaded but its arguments are not written yet); between
fork and exec it shows its parent's command line.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

PROC = Path("/proc")
#: The kernel's flag (in /proc/PID/stat) of its own threads, which run no program.
PF_KTHREAD = 0x00200000
#: How long a process in the middle of an exec is given to show its new command line.
EXEC_SETTLE_S = 5.0


def inspectable() -> bool:
    """Whether this machine shows its processes' command lines (Linux does, under /proc)."""
    return (PROC / "self" / "cmdline").exists()


def runs(pid: int, program: str, settle: float = EXEC_SETTLE_S) -> bool:
    """Whether process ``pid`` exists and runs ``program`` (see :func:`names`; any program if empty).

    A process that is gone, unreadable, a zombie or a kernel thread runs no program. One whose
    command line is empty while it is neither is in the middle of an exec: it is waited for, up to
    ``settle`` seconds, and judged by the command line it shows then.
    """
    deadline = time.monotonic() + settle
    while True:
        try:
            cmdline = (PROC / str(pid) / "cmdline").read_bytes()
            if cmdline:
                return names(cmdline, program)
            stat = (PROC / str(pid) / "stat").read_text()
        except OSError:  # gone, or not ours to read
            return False
        if not execing(stat) or time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


def execing(stat: str) -> bool:
    """Whether a process with an empty command line, given its /proc/PID/stat line, can still show
    one: it is neither a zombie or dead (state Z, X) nor a kernel thread."""
    # "PID (COMM) STATE PPID PGRP SESSION TTY TPGID FLAGS ...": COMM may hold spaces and parentheses.
    fields = stat[stat.rfind(")") + 2 :].split()
    if len(fields) < 7:
        return False
    return fields[0] not in ("Z", "X", "x") and not int(fields[6]) & PF_KTHREAD


def names(cmdline: bytes, program: str) -> bool:
    """Whether a command line (NUL-separated arguments, as in /proc/PID/cmdline) runs ``program``:
    as the executable (``.../bin/anvil``), as the script an interpreter runs (``node .../anvil``,
    as a ``#!`` line does) or as the module of ``-m`` (``python -m gunicorn``). A program merely
    named among the arguments (``pytest -k anvil``) is not run by it. An empty ``program`` is any."""
    args = [arg.decode(errors="replace") for arg in cmdline.split(b"\0") if arg]
    if not args:
        return False
    if not program:
        return True
    # A process may set its title as one string with spaces ("gunicorn: master [app]").
    run = {os.path.basename(args[0]), (args[0].split() or [""])[0].rstrip(":")}
    for index, arg in enumerate(args[1:], start=1):
        if arg == "-m":
            run.update(args[index + 1 : index + 2])
            break
        if not arg.startswith("-"):
            run.add(os.path.basename(arg))
            break
    return program in run
