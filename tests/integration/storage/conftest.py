"""A real IPFS node for the storage integration tests: js-ipfs (kubo's RPC API), installed by
``scripts/ipfs/install.sh`` and started once per session by ``scripts/ipfs/start.sh`` with its repo
in a temporary directory. Without the node installed the tests are skipped, except in CI
(``CI=true``), where that is a failure."""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from datamarket.storage.kubo import KuboStore
from tests.integration.storage.ipfs_node import JSIPFS, SCRIPTS, SIZES, IpfsNode, free_port


@pytest.fixture(scope="session")
def ipfs_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IpfsNode]:
    if not JSIPFS.exists():
        reason = f"no IPFS node installed at {JSIPFS}: run scripts/ipfs/install.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI must run the IPFS integration tests)")
        pytest.skip(reason)
    repo = tmp_path_factory.mktemp("ipfs-repo")
    started = subprocess.run(
        [str(SCRIPTS / "start.sh"), str(repo), str(free_port())],
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
