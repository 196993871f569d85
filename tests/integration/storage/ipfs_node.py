"""The test IPFS node (js-ipfs, cached in .cache/ipfs) and the sample files the stores are
compared on (the fixtures are in conftest.py)."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from datamarket.storage.cid import CHUNK_SIZE

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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
