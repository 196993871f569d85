"""A real IPFS node for the storage integration tests: js-ipfs (kubo's RPC API), installed by
``scripts/ipfs/install.sh`` and started once per session by ``scripts/ipfs/start.sh`` with its repo
in a temporary directory. Without the node installed the tests are skipped, except in CI
(``CI=true``), where that is a failure.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from datamarket.storage.cid import CHUNK_SIZE
from datamarket.storage.kubo import KuboStore

ROOT = Path(__file__).resolve().parents[3]
SCRIPTS = ROOT / "scripts" / "ipfs"
JSIPFS = ROOT / ".cache" / "ipfs" / "bin" / "jsipfs"

KIB = 1024
MIB = 1024 * KIB
#: The file sizes every transfer test covers; the last needs two levels of nodes (> 174 leaves).
SIZES = {
    "0B": 0,
    "1B": 1,
    "chunk-1": CHUNK_SIZE - 1,
    "chunk": CHUNK_SIZE,
    "chunk+1": CHUNK_SIZE + 1,
    "10MiB": 10 * MIB,
    "two-levels": 174 * CHUNK_SIZE + 3 * CHUNK_SIZE + 5,
}


@dataclass(frozen=True)
class IpfsNode:
    api_url: str
    repo: Path

    def block_file(self, multihash: bytes) -> Path:
        """Where the node's flatfs blockstore keeps a block (key: base32 multihash, sharded by
        the two characters before the last)."""
        import base64

        key = base64.b32encode(multihash).decode().rstrip("=")
        return self.repo / "blocks" / key[-3:-1] / f"{key}.data"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def ipfs_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IpfsNode]:
    if not JSIPFS.exists():
        reason = f"no IPFS node installed at {JSIPFS}: run scripts/ipfs/install.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI must run the IPFS integration tests)")
        pytest.skip(reason)
    repo = tmp_path_factory.mktemp("ipfs-repo")
    started = subprocess.run(
        [str(SCRIPTS / "start.sh"), str(repo), str(_free_port())],
        capture_output=True,
        text=True,
        timeout=180,
    )
    if started.returncode != 0:
        pytest.fail(f"the IPFS node did not start:\n{started.stderr}")
    try:
        yield IpfsNode(api_url=started.stdout.strip().splitlines()[-1], repo=repo)
    finally:
        subprocess.run([str(SCRIPTS / "stop.sh"), str(repo)], timeout=60, check=False)


@pytest.fixture(scope="session")
def kubo(ipfs_node: IpfsNode) -> Iterator[KuboStore]:
    with KuboStore(ipfs_node.api_url, timeout=30, lookup_timeout=0.5) as store:
        yield store


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> SampleFiles:
    return SampleFiles(tmp_path_factory.mktemp("samples"))


class SampleFiles:
    """Deterministic test files, written once per session and reused by every test."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def path(self, name: str, variant: str = "") -> Path:
        """The file ``name`` (a key of SIZES); each ``variant`` has different bytes."""
        path = self._directory / f"{name}{'-' + variant if variant else ''}.bin"
        if not path.exists():
            size = SIZES[name]
            path.write_bytes(random.Random(f"{variant}/{size}").randbytes(size))
        return path
