"""IPFS content identifiers for small documents.

A file that fits in one 256 KiB chunk, added with ``ipfs add --cid-version 1 --raw-leaves``, is a
single raw block: its CID is CIDv1, codec raw (0x55), multihash sha2-256 of the bytes, in base32.
Larger files are DAGs of many blocks (see the content store).
"""

from __future__ import annotations

import base64
import hashlib

CHUNK_SIZE = 256 * 1024
_RAW_CODEC = 0x55
_SHA2_256 = 0x12


def raw_leaf_cid(data: bytes) -> str:
    """The CIDv1 (raw leaves) that IPFS gives ``data`` when it fits in one chunk."""
    if len(data) > CHUNK_SIZE:
        raise ValueError(f"{len(data)} bytes is more than one {CHUNK_SIZE}-byte chunk")
    digest = hashlib.sha256(data).digest()
    binary = bytes([0x01, _RAW_CODEC, _SHA2_256, len(digest)]) + digest
    return "b" + base64.b32encode(binary).decode().lower().rstrip("=")
