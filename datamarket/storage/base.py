"""The content store interface: what every part of datamarket needs from IPFS.

Two real implementations: the embedded on-disk store (``embedded.py``, the default, giving the same
CIDs as ``ipfs add``) and a client of a kubo-compatible IPFS node (``kubo.py``). Content read back is
verified against its CID; a corrupted block raises :class:`ContentCorrupted`, never silent data.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Protocol, runtime_checkable

from datamarket.errors import DatamarketError


class StorageError(DatamarketError):
    code = "storage_error"


class ContentNotFound(StorageError, KeyError):
    code = "content_not_found"


class ContentCorrupted(StorageError, ValueError):
    code = "content_corrupted"


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

    def pin(self, cid: str) -> None: ...

    def unpin(self, cid: str) -> None: ...

    def has(self, cid: str) -> bool: ...


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
