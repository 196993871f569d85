"""dag-pb nodes and the UnixFS data they carry, encoded exactly as kubo and js-ipfs encode them.

```
PBNode { repeated PBLink Links = 2; optional bytes Data = 1; }      Links are written before Data
PBLink { optional bytes Hash = 1; optional string Name = 2; optional uint64 Tsize = 3; }
UnixFS Data { Type = 1 (File = 2, Raw = 0, Directory = 1, ...); Data = 2; filesize = 3;
              repeated uint64 blocksizes = 4; hashType = 5; fanout = 6; mode = 7; mtime = 8 }
```

The importer writes file links with an empty name (``12 00``) like both implementations. Decoding is
strict about the wire format (a block that hashes to its CID but is not dag-pb is refused).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from datamarket.storage import varint
from datamarket.storage.cid import CID

TYPE_RAW = 0
TYPE_DIRECTORY = 1
TYPE_FILE = 2

_VARINT = 0
_BYTES = 2


@dataclass(frozen=True, slots=True)
class PBLink:
    cid: CID
    name: str
    #: The cumulative size of the linked DAG: its blocks' bytes, all of them.
    tsize: int


@dataclass(frozen=True, slots=True)
class PBNode:
    links: tuple[PBLink, ...]
    data: bytes | None


@dataclass(frozen=True, slots=True)
class UnixFSData:
    type: int
    data: bytes
    filesize: int | None
    blocksizes: tuple[int, ...]


def leaf_frame(size: int) -> tuple[bytes, bytes]:
    """The bytes before and after ``size`` bytes of file data in a dag-pb UnixFS leaf (CIDv0 leaves):
    ``PBNode{Data: UnixFS{Type: File, Data: data, filesize: size}}``. An empty file has no Data."""
    if size == 0:
        unixfs = b"\x08\x02\x18\x00"
        return b"\x0a" + varint.encode(len(unixfs)) + unixfs, b""
    size_varint = varint.encode(size)
    unixfs_length = 2 + 1 + len(size_varint) + size + 1 + len(size_varint)
    prefix = b"\x0a" + varint.encode(unixfs_length) + b"\x08\x02\x12" + size_varint
    return prefix, b"\x18" + size_varint


def file_node(links: Sequence[tuple[CID, int]], blocksizes: Sequence[int]) -> bytes:
    """An inner node of a UnixFS file: links to its children (CID, cumulative size) and, in its
    UnixFS data, each child's file size and their total."""
    unixfs = bytearray(b"\x08\x02\x18")
    unixfs += varint.encode(sum(blocksizes))
    for size in blocksizes:
        unixfs += b"\x20" + varint.encode(size)
    out = bytearray()
    for cid, tsize in links:
        cid_bytes = bytes(cid)
        link = b"\x0a" + varint.encode(len(cid_bytes)) + cid_bytes + b"\x12\x00\x18" + varint.encode(tsize)
        out += b"\x12" + varint.encode(len(link)) + link
    out += b"\x0a" + varint.encode(len(unixfs)) + unixfs
    return bytes(out)


def decode_node(block: bytes | memoryview) -> PBNode:
    """ValueError if ``block`` is not a dag-pb node."""
    links: list[PBLink] = []
    data: bytes | None = None
    for field, wire, value in _fields(block):
        if field == 2 and wire == _BYTES and data is None:
            links.append(_decode_link(value))
        elif field == 1 and wire == _BYTES and data is None:
            data = bytes(value)
        else:
            raise ValueError(f"unexpected field {field} (wire type {wire}) in a dag-pb node")
    return PBNode(tuple(links), data)


def decode_unixfs(data: bytes | memoryview) -> UnixFSData:
    """ValueError if ``data`` is not a UnixFS Data message."""
    kind: int | None = None
    content = b""
    filesize: int | None = None
    blocksizes: list[int] = []
    for field, wire, value in _fields(data):
        if field == 1 and wire == _VARINT:
            kind = value
        elif field == 2 and wire == _BYTES:
            content = bytes(value)
        elif field == 3 and wire == _VARINT:
            filesize = value
        elif field == 4 and wire == _VARINT:
            blocksizes.append(value)
        elif field == 4 and wire == _BYTES:  # packed encoding, allowed by protobuf for repeated ints
            pos = 0
            while pos < len(value):
                size, pos = varint.decode(value, pos)
                blocksizes.append(size)
        elif field in (5, 6, 7, 8):
            continue  # hash type and fanout (HAMT directories), mode, mtime: no bearing on bytes
        else:
            raise ValueError(f"unexpected field {field} (wire type {wire}) in UnixFS data")
    if kind is None:
        raise ValueError("UnixFS data without a Type")
    return UnixFSData(kind, content, filesize, tuple(blocksizes))


def _decode_link(data: memoryview) -> PBLink:
    cid: CID | None = None
    name = ""
    tsize = 0
    for field, wire, value in _fields(data):
        if field == 1 and wire == _BYTES:
            cid = CID.from_bytes(value)
        elif field == 2 and wire == _BYTES:
            name = bytes(value).decode()
        elif field == 3 and wire == _VARINT:
            tsize = value
        else:
            raise ValueError(f"unexpected field {field} (wire type {wire}) in a dag-pb link")
    if cid is None:
        raise ValueError("dag-pb link without a Hash")
    return PBLink(cid, name, tsize)


def _fields(data: bytes | memoryview) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value): an int for varints, a memoryview for bytes."""
    view = memoryview(data)
    pos = 0
    while pos < len(view):
        key, pos = varint.decode(view, pos)
        field, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = varint.decode(view, pos)
            yield field, wire, value
        elif wire == _BYTES:
            length, pos = varint.decode(view, pos)
            if pos + length > len(view):
                raise ValueError("truncated protobuf field")
            yield field, wire, view[pos : pos + length]
            pos += length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
