"""The services the fault tests kill that the local market does not start itself: a Redis broker
and an IPFS node of the suite's own, each on a free loopback port with its data in a temporary
folder, killed with SIGKILL and started again on the same port and data. Also the kill of a
service of the local market (``stack.json``'s process group) and of every connection to a
PostgreSQL database."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from datamarket import processes, stack
from tests.integration.storage.ipfs_node import JSIPFS, SCRIPTS, free_port
from tests.postgres import ADMIN_URL


def until(check: Callable[[], object], what: str, timeout: float = 60.0, every: float = 0.1) -> object:
    """``check()``'s first true value, polled until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(every)


def killpg(pid: int) -> None:
    """SIGKILL the process group ``pid`` leads and wait until its leader is gone."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    try:
        os.waitpid(pid, 0)  # our child (the stack's services and the suite's are): reap it
    except ChildProcessError:  # not ours (the IPFS node): gone, or a zombie nobody reaps
        until(lambda: not processes.runs(pid, "", settle=0), f"process {pid} to exit", timeout=10)


def kill_service(local: stack.Stack, name: str) -> None:
    """SIGKILL a service of the local market (its whole process group: gunicorn's master and
    workers, the worker's sandboxes)."""
    service = local.services[name]
    assert service.pid is not None and service.alive(), f"{name} is not running"
    killpg(service.pid)


@dataclass
class RedisServer:
    """``redis-server`` on 127.0.0.1:``port`` with the append-only file on (fsync on every write) in
    ``folder``: a restart after SIGKILL has every acknowledged write."""

    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is not installed"
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [
            binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.folder),
            "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "yes",
        ]  # fmt: skip
        with open(self.folder / "redis.log", "ab") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        client = redis.Redis.from_url(self.url, socket_timeout=1)

        def answers() -> bool:
            assert self.process is not None and self.process.poll() is None, "redis-server exited"
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        until(answers, "redis-server to answer", timeout=30)
        client.close()

    def kill(self) -> None:
        if self.process is not None:
            killpg(self.process.pid)
            self.process = None


@dataclass
class IpfsNode:
    """The test IPFS node (js-ipfs, ``scripts/ipfs/start.sh``) with its repo in ``repo``."""

    repo: Path
    port: int = field(default_factory=free_port)
    api_url: str = ""

    def start(self) -> None:
        started = subprocess.run(
            [str(SCRIPTS / "start.sh"), str(self.repo), str(self.port)],
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert started.returncode == 0, f"the IPFS node did not start:\n{started.stderr}"
        self.api_url = started.stdout.strip().splitlines()[-1]

    def kill(self) -> None:
        pid = int((self.repo / "daemon.pid").read_text())
        killpg(pid)

    def stop(self) -> None:
        subprocess.run([str(SCRIPTS / "stop.sh"), str(self.repo)], timeout=60, check=False)

    @staticmethod
    def installed() -> bool:
        return JSIPFS.exists()


def terminate_connections(database_urls: list[str]) -> int:
    """``pg_terminate_backend`` every other session connected to these databases; how many."""
    names = [url.rsplit("/", 1)[1] for url in database_urls]
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = ANY(%s) AND pid <> pg_backend_pid()",
            (names,),
        ).fetchall()
    return sum(1 for (done,) in rows if done)


def connections(database_urls: list[str]) -> int:
    names = [url.rsplit("/", 1)[1] for url in database_urls]
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        (count,) = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = ANY(%s)", (names,)
        ).fetchone()
    return int(count)


def advisory_locks(database_url: str) -> int:
    """How many advisory locks are held on this database (the indexer's writer lock is one)."""
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        (count,) = admin.execute(
            "SELECT count(*) FROM pg_locks JOIN pg_database d ON d.oid = pg_locks.database"
            " WHERE locktype = 'advisory' AND granted AND d.datname = %s",
            (database_url.rsplit("/", 1)[1],),
        ).fetchone()
    return int(count)
