"""The content store interface: what every part of datamarket needs from IPFS.

Two real implementations: the embedded on-disk store (``embedded.py``, the default, giving the same
CIDs as ``ipfs add``) and a client of a kubo-compatible IPFS node (``kubo.py``). Content read back is
verified against its CID; a corrupted block raises :class:`ContentCorrupted`, never silent data.
Both also move whole DAGs as CAR files (:class:`CarStore`), so data passes between them unchanged,
and hand out single blocks (:class:`BlockStore`), which the gateway serves.

StorageError
├── ContentNotFound (KeyError): the store does not hold a block the content needs
├── ContentCorrupted (ValueError): a block does not hash to its CID, or is not valid dag-pb/UnixFS
├── UnsupportedContent (ValueError): valid, but not something this store reads (a directory,
│                                    a hash function other than sha2-256 or identity)
├── InvalidCID (ValueError)
├── InvalidCar (ValueError): not a CAR v1 file, or one whose roots are not what was asked
├── CIDMismatch: an IPFS node named added content differently from kubo's default settings
└── StoreUnavailable (ConnectionError): the IPFS node cannot be reached or answered nonsense
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO, Protocol, runtime_checkable

from datamarket.errors import DatamarketError


class StorageError(DatamarketError):
    code = "storage_error"


class ContentNotFound(StorageError, KeyError):
    code = "content_not_found"


class ContentCorrupted(StorageError, ValueError):
    code = "content_corrupted"


class UnsupportedContent(StorageError, ValueError):
    code = "unsupported_content"


class InvalidCID(StorageError, ValueError):
    code = "invalid_cid"


class InvalidCar(StorageError, ValueError):
    code = "invalid_car"


class CIDMismatch(StorageError):
    code = "cid_mismatch"


class StoreUnavailable(StorageError, ConnectionError):
    code = "store_unavailable"


@runtime_checkable
class ContentStore(Protocol):
    def add(self, stream: BinaryIO, *, cid_version: int = 1, only_hash: bool = False) -> str:
        """Import a stream as a UnixFS file (256 KiB chunks, balanced DAG, kubo's defaults: CIDv0
        with dag-pb leaves, CIDv1 with raw leaves), pin it unless ``only_hash``; return its CID."""
        ...

    def cat(self, cid: str) -> Iterator[bytes]:
        """Stream a file's bytes, each block verified against its CID."""
        ...

    def pin(self, cid: str) -> None:
        """Keep ``cid`` and every block below it; ContentNotFound if the store lacks one of them."""
        ...

    def unpin(self, cid: str) -> None:
        """Drop the pin on ``cid``; doing nothing when it is not pinned (idempotent)."""
        ...

    def has(self, cid: str) -> bool:
        """Whether the store itself holds the root block of ``cid`` (it never asks the network)."""
        ...


@runtime_checkable
class CarStore(ContentStore, Protocol):
    def export_car(self, cid: str, out: BinaryIO) -> None:
        """Write the DAG of ``cid`` (root first, every block once, each verified) as a CAR v1. On an
        error ``out`` may hold the start of the CAR: write to a temporary file and rename it."""
        ...

    def import_car(self, stream: BinaryIO) -> list[str]:
        """Store every block of a CAR v1 (each verified against its CID), pin its roots (each must
        be complete) and return them."""
        ...


@runtime_checkable
class BlockStore(CarStore, Protocol):
    def get_block(self, cid: str) -> bytes:
        """The bytes of the one block ``cid`` names (any codec), verified against its hash:
        ContentNotFound if the store does not hold it (it never asks the network), ContentCorrupted
        if what it holds does not match, UnsupportedContent for a hash function it cannot check."""
        ...


class ChunkReader(io.RawIOBase):
    """A readable file over an iterator of byte chunks (such as ``ContentStore.cat``)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def add_bytes(store: ContentStore, data: bytes, *, cid_version: int = 1) -> str:
    import io

    return store.add(io.BytesIO(data), cid_version=cid_version)


def cat_bytes(store: ContentStore, cid: str, *, max_size: int | None = None) -> bytes:
    """The whole content of ``cid``; with ``max_size``, refuse content larger than that."""
    out = bytearray()
    for chunk in store.cat(cid):
        out += chunk
        if max_size is not None and len(out) > max_size:
            raise StorageError(f"content {cid} is larger than {max_size} bytes")
    return bytes(out)
