"""Which program a recorded pid runs: a service's record is not taken for a zombie, a process between
fork and exec, or any other program."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from datamarket import processes
from datamarket.stack import Service

pytestmark = pytest.mark.skipif(not processes.inspectable(), reason="needs Linux's /proc")

#: Forks a child that waits for a byte on stdin before it execs ``sleep``; prints the child's pid.
HOLD_BEFORE_EXEC = """
import os, sys
pid = os.fork()
if pid == 0:
    sys.stdin.read(1)
    os.execvp("sleep", ["sleep", "30"])
print(pid, flush=True)
os.waitpid(pid, 0)
"""
#: Forks a child that exits at once and is never reaped (a zombie); prints the child's pid.
KEEP_A_ZOMBIE = """
import os, time
pid = os.fork()
if pid == 0:
    os._exit(0)
print(pid, flush=True)
time.sleep(30)
"""


def _until(condition, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not {what} within {timeout} s"
        time.sleep(0.01)


def _state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rfind(")") + 2]


@pytest.mark.parametrize(
    ("cmdline", "program"),
    [
        (b"/repo/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil\0--port\x008545\0", "anvil"),
        (b"/usr/bin/python3\0-m\0gunicorn\0--bind\x00127.0.0.1:1\0provider.wsgi:app\0", "gunicorn"),
        (b"/usr/bin/python3\0-m\0compute_to_data\0--queues\0cpu\0", "compute_to_data"),
        (b"node\0/repo/node_modules/.bin/anvil\0--port\x008545\0", "anvil"),
        (b"gunicorn: master [provider.wsgi:app]\0", "gunicorn"),
        (b"sleep\x0030\0", ""),
    ],
)
def test_a_command_line_runs_its_program(cmdline: bytes, program: str) -> None:
    assert processes.names(cmdline, program)


@pytest.mark.parametrize(
    ("cmdline", "program"),
    [
        (b"", "anvil"),
        (b"", ""),
        (b"sleep\x0030\0", "anvil"),
        (b"/venv/bin/python\0/venv/bin/pytest\0-k\0anvil\0", "anvil"),
        (b"/venv/bin/python\0/venv/bin/datamarket\0up\0", "gunicorn"),
        (b"/usr/bin/python3\0-c\0import gunicorn\0", "gunicorn"),
        (b"/usr/bin/anvil-wrapper\0--port\x008545\0", "anvil"),
    ],
)
def test_a_command_line_that_only_names_a_program_does_not_run_it(cmdline: bytes, program: str) -> None:
    assert not processes.names(cmdline, program)


@pytest.mark.parametrize(
    ("stat", "execing"),
    [
        ("41 (anvil) R 1 41 41 0 -1 4194560 0 0 0", True),
        ("41 (a) (b) S 1 41 41 0 -1 4194560 0 0 0", True),
        ("41 (anvil) Z 1 41 41 0 -1 4227140 0 0 0", False),
        ("41 (anvil) X 1 41 41 0 -1 4227140 0 0 0", False),
        ("2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0", False),
        ("41 (trunc", False),
    ],
)
def test_only_a_live_user_process_can_still_show_a_command_line(stat: str, execing: bool) -> None:
    assert processes.execing(stat) is execing


def test_a_process_in_the_middle_of_an_exec_is_judged_by_the_program_it_then_shows(tmp_path, monkeypatch):
    proc = tmp_path / "41"
    proc.mkdir()
    (proc / "cmdline").write_bytes(b"")
    (proc / "stat").write_text("41 (python3) R 1 41 41 0 -1 4194560 0 0 0")

    def exec_done(seconds: float) -> None:
        (proc / "cmdline").write_bytes(b"/usr/bin/anvil\0--port\x008545\0")

    monkeypatch.setattr(processes, "PROC", tmp_path)
    assert not processes.runs(41, "anvil", settle=0)
    monkeypatch.setattr(processes, "time", SimpleNamespace(monotonic=time.monotonic, sleep=exec_done))
    assert processes.runs(41, "anvil")
    assert not processes.runs(41, "gunicorn")
    assert not processes.runs(42, "anvil")  # gone


def test_a_process_between_fork_and_exec_is_not_taken_for_the_program_it_will_run():
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_BEFORE_EXEC], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    child = int(holder.stdout.readline())
    try:
        service = Service("chain", "http://127.0.0.1:1", child, program="sleep")
        # It shows its parent's command line (which merely mentions sleep) until it execs.
        assert Path(sys.executable).name in Path(f"/proc/{child}/cmdline").read_bytes().decode()
        assert not service.alive()
        holder.stdin.write(b"x")
        holder.stdin.flush()
        _until(lambda: Path(f"/proc/{child}/cmdline").read_bytes().startswith(b"sleep\0"), "exec'd")
        assert service.alive()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
        holder.kill()
        holder.wait()


def test_a_zombie_is_not_alive():
    holder = subprocess.Popen([sys.executable, "-c", KEEP_A_ZOMBIE], stdout=subprocess.PIPE)
    try:
        zombie = int(holder.stdout.readline())
        _until(lambda: _state(zombie) == "Z", "a zombie")
        assert not Service("worker", "sqlite", zombie).alive()
        assert not Service("worker", "sqlite", zombie, program=Path(sys.executable).name).alive()
    finally:
        holder.kill()
        holder.wait()


def test_a_service_just_started_is_alive():
    """Its exec is done when Popen returns, but its command line may not be written yet."""
    for _ in range(20):
        started = subprocess.Popen(["sleep", "30"])
        try:
            assert Service("chain", "http://127.0.0.1:1", started.pid, program="sleep").alive()
        finally:
            started.kill()
            started.wait()
    assert not Service("chain", "http://127.0.0.1:1", started.pid, program="sleep").alive()
