"""UnixFS files: a streaming importer that gives kubo's CIDs, and a reader that checks every block.

The importer follows ``ipfs add`` with kubo's defaults: fixed 256 KiB chunks, the balanced layout
with at most 174 links per node. CIDv0: every block is dag-pb, leaves wrap their chunk in UnixFS
File data. CIDv1: leaves are raw blocks (``--raw-leaves``, kubo's default for CIDv1), inner nodes
dag-pb. A file of at most one chunk is its single leaf; an empty file is one empty leaf.

The balanced layout fills the tree from the left: leaves are grouped 174 to a parent, parents 174
to a grandparent and so on; when the input ends, every unfinished group becomes a node, even with a
single child, until one node is left. Streaming needs only the links of the unfinished group at each
level (at most 174 per level, about 4 levels for a terabyte), so memory stays flat.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from datamarket.storage import dagpb
from datamarket.storage.base import ContentCorrupted, UnsupportedContent
from datamarket.storage.cid import CHUNK_SIZE, CID, DAG_PB, RAW

MAX_LINKS = 174

#: Receives each new block of an import, children before parents, the root last.
BlockSink = Callable[[CID, bytes], None]
#: Returns the bytes a store holds for a CID (unverified); raises ContentNotFound when it has none.
BlockSource = Callable[[CID], bytes]


@dataclass(frozen=True, slots=True)
class Imported:
    cid: CID
    #: Bytes of file data.
    size: int
    #: Bytes of all blocks of the DAG (what ``ipfs add`` reports as the root link's size).
    dag_size: int


@dataclass(frozen=True, slots=True)
class _Link:
    cid: CID
    tsize: int
    filesize: int


class FileImporter:
    """Feed a file's bytes in pieces of any size with :meth:`write`, then :meth:`finish`.

    Without ``put`` only the CID is computed (``ipfs add --only-hash``) and no block is built.
    """

    def __init__(
        self,
        *,
        cid_version: int = 1,
        put: BlockSink | None = None,
        chunk_size: int = CHUNK_SIZE,
        max_links: int = MAX_LINKS,
    ) -> None:
        if cid_version not in (0, 1):
            raise ValueError(f"CID version must be 0 or 1, not {cid_version}")
        if chunk_size < 1 or max_links < 2:
            raise ValueError("chunk_size must be positive and max_links at least 2")
        self._version = cid_version
        self._put = put
        self._chunk_size = chunk_size
        self._max_links = max_links
        self._pending = bytearray()
        self._leaves = 0
        self._levels: list[list[_Link]] = [[]]
        self._finished = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._finished:
            raise ValueError("write after finish")
        view = memoryview(data).cast("B")
        size = self._chunk_size
        if self._pending:
            take = size - len(self._pending)
            self._pending += view[:take]
            view = view[take:]
            if len(self._pending) < size:
                return
            self._leaf(self._pending)
            self._pending.clear()
        while len(view) >= size:
            self._leaf(view[:size])
            view = view[size:]
        self._pending += view

    def write_from(self, stream: BinaryIO) -> None:
        """Import all of ``stream``, read straight into a reused chunk buffer (no per-chunk copies)."""
        readinto = getattr(stream, "readinto", None)
        if readinto is None or self._pending:
            while piece := stream.read(self._chunk_size):
                self.write(piece)
            return
        buffer = bytearray(self._chunk_size)
        view = memoryview(buffer)
        while True:
            filled = 0
            while filled < self._chunk_size:
                count = readinto(view[filled:])
                if not count:
                    break
                filled += count
            if filled < self._chunk_size:
                self._pending += view[:filled]
                return
            self._leaf(view)

    def finish(self) -> Imported:
        if self._finished:
            raise ValueError("finish called twice")
        self._finished = True
        if self._pending or self._leaves == 0:
            self._leaf(self._pending)
        levels = self._levels
        level = 0
        # Wrap every unfinished group into a node, bottom up, until a single node is left on top.
        while not (level == len(levels) - 1 and len(levels[level]) == 1):
            if levels[level]:
                self._flush(level)
            level += 1
        root = levels[-1][0]
        return Imported(root.cid, root.filesize, root.tsize)

    def _leaf(self, chunk: bytes | bytearray | memoryview) -> None:
        self._leaves += 1
        size = len(chunk)
        if self._version == 1:
            if self._put is None:
                cid = CID.from_digest(hashlib.sha256(chunk).digest(), version=1, codec=RAW)
            else:
                block = bytes(chunk)
                cid = CID.of_block(block, version=1, codec=RAW)
                self._put(cid, block)
            self._add(0, _Link(cid, size, size))
            return
        prefix, suffix = dagpb.leaf_frame(size)
        if self._put is None:
            digest = hashlib.sha256(prefix)
            digest.update(chunk)
            digest.update(suffix)
            cid = CID.from_digest(digest.digest(), version=0, codec=DAG_PB)
        else:
            block = b"".join((prefix, chunk, suffix))
            cid = CID.of_block(block, version=0, codec=DAG_PB)
            self._put(cid, block)
        self._add(0, _Link(cid, len(prefix) + size + len(suffix), size))

    def _add(self, level: int, link: _Link) -> None:
        self._levels[level].append(link)
        if len(self._levels[level]) == self._max_links:
            self._flush(level)

    def _flush(self, level: int) -> None:
        """Turn the group at ``level`` into a node, linked from the level above."""
        group = self._levels[level]
        block = dagpb.file_node([(link.cid, link.tsize) for link in group], [link.filesize for link in group])
        cid = CID.of_block(block, version=self._version, codec=DAG_PB)
        if self._put is not None:
            self._put(cid, block)
        node = _Link(
            cid, len(block) + sum(link.tsize for link in group), sum(link.filesize for link in group)
        )
        self._levels[level] = []
        if level + 1 == len(self._levels):
            self._levels.append([])
        self._add(level + 1, node)


def import_file(stream: BinaryIO, *, cid_version: int = 1, put: BlockSink | None = None) -> Imported:
    """Import ``stream`` to its end; with ``put``, hand over every block."""
    importer = FileImporter(cid_version=cid_version, put=put)
    importer.write_from(stream)
    return importer.finish()


def import_bytes(data: bytes, *, cid_version: int = 1, put: BlockSink | None = None) -> Imported:
    importer = FileImporter(cid_version=cid_version, put=put)
    importer.write(data)
    return importer.finish()


def verified_block(get: BlockSource, cid: CID) -> bytes:
    """The block of ``cid`` from ``get``, checked against its hash."""
    block = get(cid)
    if not cid.matches(block):
        raise ContentCorrupted(f"block {cid} does not match its hash", details={"cid": str(cid)})
    return block


def read_file(get: BlockSource, root: CID) -> Iterator[bytes]:
    """The bytes of the UnixFS file ``root``, block by block, each block verified before its bytes
    are yielded. ContentCorrupted for a block that fails its hash or is not a UnixFS file node,
    UnsupportedContent for directories and other non-file nodes."""
    stack: list[Iterator[CID]] = [iter((root,))]
    while stack:
        cid = next(stack[-1], None)
        if cid is None:
            stack.pop()
            continue
        block = verified_block(get, cid)
        if cid.codec == RAW:
            if block:
                yield block
            continue
        node = _file_node(cid, block)
        if node.data:
            yield node.data
        if node.links:
            stack.append(iter(node.links))


@dataclass(frozen=True, slots=True)
class _FileNode:
    data: bytes
    links: tuple[CID, ...]


def _file_node(cid: CID, block: bytes) -> _FileNode:
    if cid.codec != DAG_PB:
        raise UnsupportedContent(f"{cid}: codec 0x{cid.codec:x} is not a UnixFS file")
    try:
        node = dagpb.decode_node(block)
        unixfs = dagpb.decode_unixfs(node.data or b"")
    except ValueError as exc:
        raise ContentCorrupted(
            f"block {cid} is not a UnixFS node: {exc}", details={"cid": str(cid)}
        ) from None
    if unixfs.type not in (dagpb.TYPE_FILE, dagpb.TYPE_RAW):
        raise UnsupportedContent(f"{cid} is not a file (UnixFS type {unixfs.type})")
    return _FileNode(unixfs.data, tuple(link.cid for link in node.links))


def walk_blocks(get: BlockSource, root: CID) -> Iterator[tuple[CID, bytes]]:
    """Every block of the DAG ``root``, depth first, parents before children, each once and verified:
    the order ``ipfs dag export`` writes a CAR in."""
    seen: set[bytes] = set()
    stack: list[Iterator[CID]] = [iter((root,))]
    while stack:
        cid = next(stack[-1], None)
        if cid is None:
            stack.pop()
            continue
        key = bytes(cid)
        if key in seen:
            continue
        seen.add(key)
        block = verified_block(get, cid)
        yield cid, block
        if cid.codec == DAG_PB:
            try:
                links = dagpb.decode_node(block).links
            except ValueError as exc:
                raise ContentCorrupted(
                    f"block {cid} is not dag-pb: {exc}", details={"cid": str(cid)}
                ) from None
            if links:
                stack.append(iter(tuple(link.cid for link in links)))
        elif cid.codec != RAW:
            raise UnsupportedContent(f"{cid}: codec 0x{cid.codec:x} is not supported")
