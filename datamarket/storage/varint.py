"""Unsigned LEB128 varints, as multiformats (CIDs, multihashes, CAR) and protobuf write them."""

from __future__ import annotations

#: Multiformats caps varints at 9 bytes (63 bits); protobuf's 10th byte never occurs in what we read.
_MAX_BYTES = 9


def encode(value: int) -> bytes:
    if value < 0:
        raise ValueError(f"varints are unsigned, got {value}")
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode(data: bytes | memoryview, offset: int = 0) -> tuple[int, int]:
    """The varint at ``offset`` and the offset just after it. Raises ValueError for truncated,
    over-long and non-minimal encodings (so that a value has exactly one encoding); parsers turn it
    into their own error."""
    value = 0
    shift = 0
    for index in range(offset, min(len(data), offset + _MAX_BYTES)):
        byte = data[index]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if byte == 0 and index > offset:
                raise ValueError("non-minimal varint")
            return value, index + 1
        shift += 7
    if len(data) - offset >= _MAX_BYTES:
        raise ValueError("varint longer than 9 bytes")
    raise ValueError("truncated varint")
