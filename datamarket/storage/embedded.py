"""The embedded content store: IPFS blocks in a directory, no daemon needed.

```
ROOT/blocks/<first 2 hex digits of the digest>/<multihash hex>    one file per block
ROOT/pins/<CID>                                                   one file per pinned root
ROOT/tmp/                                                         writes in progress
```

Blocks are keyed by multihash, as kubo's blockstore keys them, so a CIDv0 and a CIDv1 of the same
dag-pb block share one file. Every file is written to ``tmp/`` and renamed into place (after an
fsync when ``sync``), so a crash leaves whole blocks or none; an add writes its pin last, so a pin
always names a complete DAG. Reads verify every block against its CID.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from datamarket.storage import car, unixfs
from datamarket.storage.base import ContentNotFound
from datamarket.storage.cid import CID, IDENTITY


class EmbeddedStore:
    """A :class:`~datamarket.storage.base.BlockStore` in the directory ``root`` (created on first
    write). ``sync=False`` skips the fsyncs: faster, still atomic against a crash of this process,
    but not against a power loss."""

    def __init__(self, root: Path | str, *, sync: bool = True) -> None:
        self.root = Path(root)
        self._sync = sync
        self._blocks = self.root / "blocks"
        self._pins = self.root / "pins"
        self._tmp = self.root / "tmp"

    def __repr__(self) -> str:
        return f"EmbeddedStore({str(self.root)!r})"

    def add(self, stream: BinaryIO, *, cid_version: int = 1, only_hash: bool = False) -> str:
        if only_hash:
            return str(unixfs.import_file(stream, cid_version=cid_version).cid)
        with self._batch() as put:
            imported = unixfs.import_file(stream, cid_version=cid_version, put=put)
        self._write_pin(imported.cid)
        return str(imported.cid)

    def cat(self, cid: str) -> Iterator[bytes]:
        root = CID.parse(cid)
        if not self._has_block(root):
            raise ContentNotFound(f"{cid} is not in the store at {self.root}", details={"cid": cid})
        return unixfs.read_file(self._get, root)

    def pin(self, cid: str) -> None:
        root = CID.parse(cid)
        for _ in unixfs.walk_blocks(self._get, root):
            pass  # every block must be here and intact before the pin says so
        self._write_pin(root)

    def unpin(self, cid: str) -> None:
        (self._pins / str(CID.parse(cid))).unlink(missing_ok=True)

    def has(self, cid: str) -> bool:
        return self._has_block(CID.parse(cid))

    def get_block(self, cid: str) -> bytes:
        return unixfs.verified_block(self._get, CID.parse(cid))

    def pins(self) -> list[str]:
        """The pinned CIDs, sorted."""
        if not self._pins.is_dir():
            return []
        return sorted(path.name for path in self._pins.iterdir())

    def export_car(self, cid: str, out: BinaryIO) -> None:
        root = CID.parse(cid)
        if not self._has_block(root):
            raise ContentNotFound(f"{cid} is not in the store at {self.root}", details={"cid": cid})
        car.write_car(out, [root], unixfs.walk_blocks(self._get, root))

    def import_car(self, stream: BinaryIO) -> list[str]:
        reader = car.CarReader(stream)
        with self._batch() as put:
            for cid, block in reader:
                put(cid, block)
        for root in reader.roots:
            self.pin(str(root))
        return [str(root) for root in reader.roots]

    def _path(self, cid: CID) -> Path:
        key = cid.multihash.hex()
        return self._blocks / cid.digest[:1].hex() / key

    def _has_block(self, cid: CID) -> bool:
        return cid.hash_code == IDENTITY or self._path(cid).is_file()

    def _get(self, cid: CID) -> bytes:
        if cid.hash_code == IDENTITY:
            return cid.digest
        try:
            return self._path(cid).read_bytes()
        except FileNotFoundError:
            raise ContentNotFound(
                f"block {cid} is not in the store at {self.root}", details={"cid": str(cid)}
            ) from None

    @contextlib.contextmanager
    def _batch(self) -> Iterator[unixfs.BlockSink]:
        """A block writer; on leaving, the directories it added entries to are synced."""
        touched: set[Path] = set()

        def put(cid: CID, block: bytes) -> None:
            path = self._path(cid)
            if cid.hash_code == IDENTITY or path.exists():
                return
            if not path.parent.is_dir():
                path.parent.mkdir(parents=True, exist_ok=True)
                touched.add(path.parent.parent)
            self._write_atomically(path, block)
            touched.add(path.parent)

        yield put
        if self._sync:
            for directory in sorted(touched, key=lambda p: len(p.parts), reverse=True):
                _fsync_directory(directory)

    def _write_pin(self, cid: CID) -> None:
        self._pins.mkdir(parents=True, exist_ok=True)
        path = self._pins / str(cid)
        if not path.exists():
            self._write_atomically(path, f"{cid}\n".encode())
            if self._sync:
                _fsync_directory(self._pins)

    def _write_atomically(self, path: Path, data: bytes) -> None:
        self._tmp.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=self._tmp, prefix=path.name[:16] + ".")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                if self._sync:
                    file.flush()
                    os.fsync(file.fileno())
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
