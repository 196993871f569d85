"""CAR v1 (content-addressed archive): whole DAGs as one file, the form ``ipfs dag export`` writes
and ``ipfs dag import`` reads.

```
car     = varint(len(header)) | header | section*
header  = dag-cbor {"roots": [CID, ...], "version": 1}      (CIDs as tag 42, bytes 0x00 | CID)
section = varint(len(cid) + len(block)) | binary CID | block
```

Reading checks every block against its CID before handing it on, so a CAR from anywhere can be
trusted as far as the hashes go; whether it holds a complete DAG is the importing store's check.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, BinaryIO

from datamarket.storage import varint
from datamarket.storage.base import ContentCorrupted, InvalidCar, InvalidCID
from datamarket.storage.cid import CID

#: A section above this is refused before it is read (IPFS blocks are at most a few MiB).
MAX_SECTION = 4 * 1024 * 1024 + 1024
_MAX_HEADER = 64 * 1024
_CID_TAG = 42


def encode_header(roots: Sequence[CID]) -> bytes:
    """The dag-cbor header, with its length prefix, exactly as kubo and js-ipfs write it."""
    if len(roots) > 23:
        raise ValueError("at most 23 roots")
    body = bytearray(b"\xa2\x65roots")
    body.append(0x80 + len(roots))
    for root in roots:
        tagged = b"\x00" + bytes(root)
        body += b"\xd8\x2a" + _cbor_head(2, len(tagged)) + tagged
    body += b"\x67version\x01"
    return varint.encode(len(body)) + bytes(body)


def encode_section(cid: CID, block: bytes) -> bytes:
    cid_bytes = bytes(cid)
    return varint.encode(len(cid_bytes) + len(block)) + cid_bytes + block


def write_car(out: BinaryIO, roots: Sequence[CID], blocks: Iterable[tuple[CID, bytes]]) -> int:
    """Write a CAR v1; returns the bytes written."""
    written = out.write(encode_header(roots))
    for cid, block in blocks:
        written += out.write(encode_section(cid, block))
    return written


class CarReader:
    """Reads a CAR v1 from a stream: :attr:`roots` at once, then the blocks by iterating, each
    verified (ContentCorrupted if one does not match its CID). InvalidCar for anything malformed."""

    def __init__(self, stream: BinaryIO, *, max_section: int = MAX_SECTION) -> None:
        self._stream = stream
        self._max_section = max_section
        length = self._varint(allow_eof=False)
        if length is None or not 0 < length <= _MAX_HEADER:
            raise InvalidCar(f"CAR header length {length} out of range")
        header = self._exactly(length)
        self.header_bytes = varint.encode(length) + header
        self.roots = _parse_header(header)

    def __iter__(self) -> Iterator[tuple[CID, bytes]]:
        while (length := self._varint(allow_eof=True)) is not None:
            if not 0 < length <= self._max_section:
                raise InvalidCar(f"CAR section of {length} bytes (at most {self._max_section})")
            section = self._exactly(length)
            try:
                cid, start = CID.decode(section)
            except InvalidCID as exc:
                raise InvalidCar(f"bad CID in a CAR section: {exc.message}") from None
            block = section[start:]
            if not cid.matches(block):
                raise ContentCorrupted(
                    f"block {cid} in the CAR does not match its hash", details={"cid": str(cid)}
                )
            yield cid, block

    def _varint(self, *, allow_eof: bool) -> int | None:
        raw = bytearray()
        while True:
            byte = self._stream.read(1)
            if not byte:
                if raw or not allow_eof:
                    raise InvalidCar("CAR ends inside a length prefix")
                return None
            raw += byte
            if byte[0] < 0x80:
                break
            if len(raw) >= 9:
                raise InvalidCar("CAR length prefix longer than 9 bytes")
        try:
            return varint.decode(raw)[0]
        except ValueError as exc:
            raise InvalidCar(f"bad CAR length prefix: {exc}") from None

    def _exactly(self, count: int) -> bytes:
        data = self._stream.read(count)
        while data is not None and len(data) < count:
            more = self._stream.read(count - len(data))
            if not more:
                break
            data += more
        if data is None or len(data) != count:
            raise InvalidCar("CAR ends inside a section")
        return data


def _parse_header(header: bytes) -> list[CID]:
    try:
        value, end = _cbor_decode(header, 0, depth=0)
    except (ValueError, IndexError, TypeError) as exc:
        raise InvalidCar(f"CAR header is not dag-cbor: {exc}") from None
    if end != len(header) or not isinstance(value, dict):
        raise InvalidCar("CAR header is not a single dag-cbor map")
    if value.get("version") != 1:
        raise InvalidCar(f"CAR version {value.get('version')!r} is not supported (only version 1)")
    roots = value.get("roots")
    if not isinstance(roots, list) or not roots or not all(isinstance(root, CID) for root in roots):
        raise InvalidCar("CAR header has no list of root CIDs")
    return roots


def _cbor_head(major: int, value: int) -> bytes:
    if value < 24:
        return bytes((major << 5 | value,))
    for extra, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if value < 1 << (8 * size):
            return bytes((major << 5 | extra,)) + value.to_bytes(size, "big")
    raise ValueError("integer too large for CBOR")


def _cbor_decode(data: bytes, pos: int, *, depth: int) -> tuple[Any, int]:
    """The small part of dag-cbor a CAR header uses: integers, strings, bytes, lists, maps, tag 42,
    booleans and null."""
    if depth > 16:
        raise ValueError("nested too deeply")
    initial = data[pos]
    major, info = initial >> 5, initial & 0x1F
    pos += 1
    if info < 24:
        value = info
    elif info <= 27:
        size = 1 << (info - 24)
        if pos + size > len(data):
            raise ValueError("truncated")
        value = int.from_bytes(data[pos : pos + size], "big")
        pos += size
    else:
        raise ValueError(f"unsupported CBOR item 0x{initial:02x}")
    if major == 0:
        return value, pos
    if major == 1:
        return -1 - value, pos
    if major in (2, 3):
        if pos + value > len(data):
            raise ValueError("truncated string")
        raw = data[pos : pos + value]
        return (raw if major == 2 else raw.decode()), pos + value
    if major == 4:
        items = []
        for _ in range(value):
            item, pos = _cbor_decode(data, pos, depth=depth + 1)
            items.append(item)
        return items, pos
    if major == 5:
        mapping = {}
        for _ in range(value):
            key, pos = _cbor_decode(data, pos, depth=depth + 1)
            mapping[key], pos = _cbor_decode(data, pos, depth=depth + 1)
        return mapping, pos
    if major == 6 and value == _CID_TAG:
        raw, pos = _cbor_decode(data, pos, depth=depth + 1)
        if not isinstance(raw, bytes) or raw[:1] != b"\x00":
            raise ValueError("tag 42 without a 0x00-prefixed byte string")
        try:
            return CID.from_bytes(raw[1:]), pos
        except InvalidCID as exc:
            raise ValueError(exc.message) from None
    if major == 7 and info in (20, 21, 22):
        return {20: False, 21: True, 22: None}[info], pos
    raise ValueError(f"unsupported CBOR item 0x{initial:02x}")
