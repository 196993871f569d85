"""Indexers in processes of their own, as `datamarket indexer run` runs them, for the crash tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import World

REPO = Path(__file__).resolve().parents[3]


def indexer_env(world: World, database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DATAMARKET_BACKEND_RPC_URL": world.w3.provider.endpoint_uri,
        "DATAMARKET_BACKEND_MARKET": world.market.address,
        "DATAMARKET_BACKEND_MARKET_DEPLOY_BLOCK": str(world.deploy_block),
        "DATAMARKET_BACKEND_DATA_DIR": str(data_dir),
        "DATAMARKET_BACKEND_DATABASE_URL": database_url,
        "DATAMARKET_BACKEND_STORE": str(data_dir / "store"),
        "DATAMARKET_BACKEND_POLL_INTERVAL_S": "0.05",
        **extra,
    }


def start_indexer(env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        command = [sys.executable, "-m", "backend"]
        return subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO
        )


def kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
