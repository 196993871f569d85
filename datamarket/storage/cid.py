"""IPFS content identifiers (CIDs): parse, print, and check a block against its CID.

A CID names one block: ``version`` (0 or 1), the block's codec (dag-pb 0x70 or raw 0x55 here) and
the multihash of the block's bytes. CIDv0 is dag-pb + sha2-256 printed in base58btc (``Qm...``);
CIDv1 is printed in base32 (``b...``), the multibase kubo prints. Parsing also accepts the base58btc
(``z``) and base16 (``f``) multibases.

A file that fits in one 256 KiB chunk, added with ``ipfs add --cid-version 1 --raw-leaves``, is a
single raw block (:func:`raw_leaf_cid`); larger files are DAGs of many blocks (see ``unixfs.py``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from datamarket.storage import varint
from datamarket.storage.base import InvalidCID, UnsupportedContent

CHUNK_SIZE = 256 * 1024

DAG_PB = 0x70
RAW = 0x55
SHA2_256 = 0x12
IDENTITY = 0x00

_BASE58_ALPHABET = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_INDEX = {char: index for index, char in enumerate(_BASE58_ALPHABET)}
#: Bounds the identity multihashes (inline data) we accept from untrusted CIDs.
_MAX_DIGEST = 128


@dataclass(frozen=True, slots=True)
class CID:
    version: int
    codec: int
    #: The whole multihash: hash function code, digest length, digest.
    multihash: bytes

    @classmethod
    def of_block(cls, block: bytes | memoryview, *, version: int, codec: int) -> CID:
        """The sha2-256 CID of ``block``."""
        return cls.from_digest(hashlib.sha256(block).digest(), version=version, codec=codec)

    @classmethod
    def from_digest(cls, sha256_digest: bytes, *, version: int, codec: int) -> CID:
        if version == 0 and codec != DAG_PB:
            raise InvalidCID("CIDv0 is always dag-pb")
        return cls(version, codec, bytes((SHA2_256, len(sha256_digest))) + sha256_digest)

    @classmethod
    def parse(cls, text: str) -> CID:
        """A CID from its string form; InvalidCID if it is not one."""
        if len(text) == 46 and text.startswith("Qm"):
            try:
                return cls.from_bytes(_b58decode(text))
            except ValueError as exc:
                raise InvalidCID(f"{text!r} is not a CID ({exc})") from None
        prefix, body = text[:1], text[1:]
        try:
            if prefix in ("b", "B"):
                raw = base64.b32decode(body.upper() + "=" * (-len(body) % 8))
            elif prefix == "z":
                raw = _b58decode(body)
            elif prefix in ("f", "F"):
                raw = bytes.fromhex(body)
            else:
                raise ValueError(f"unknown multibase prefix {prefix!r}")
        except (binascii.Error, ValueError) as exc:
            raise InvalidCID(f"{text!r} is not a CID ({exc})") from None
        cid = cls.from_bytes(raw)
        if cid.version == 0:
            raise InvalidCID(f"{text!r}: a CIDv0 is written in base58btc without a multibase prefix")
        return cid

    @classmethod
    def from_bytes(cls, data: bytes | memoryview) -> CID:
        cid, end = cls.decode(data)
        if end != len(data):
            raise InvalidCID(f"{len(data) - end} bytes after the CID")
        return cid

    @classmethod
    def decode(cls, data: bytes | memoryview, offset: int = 0) -> tuple[CID, int]:
        """The binary CID at ``offset`` and the offset just after it (CAR sections and dag-pb links
        hold binary CIDs)."""
        try:
            if data[offset : offset + 2] == b"\x12\x20":
                end = offset + 34
                if end > len(data):
                    raise ValueError("truncated multihash")
                return cls(0, DAG_PB, bytes(data[offset:end])), end
            version, pos = varint.decode(data, offset)
            if version != 1:
                raise ValueError(f"unknown CID version {version}")
            codec, pos = varint.decode(data, pos)
            start = pos
            _, pos = varint.decode(data, pos)
            length, pos = varint.decode(data, pos)
            if length > _MAX_DIGEST or pos + length > len(data):
                raise ValueError("digest length out of range")
            return cls(1, codec, bytes(data[start : pos + length])), pos + length
        except ValueError as exc:
            raise InvalidCID(f"not a binary CID: {exc}") from None

    def __bytes__(self) -> bytes:
        if self.version == 0:
            return self.multihash
        return b"\x01" + varint.encode(self.codec) + self.multihash

    def __str__(self) -> str:
        if self.version == 0:
            return _b58encode(self.multihash)
        return "b" + base64.b32encode(bytes(self)).decode().lower().rstrip("=")

    def to_v1(self) -> CID:
        return CID(1, self.codec, self.multihash)

    @property
    def hash_code(self) -> int:
        return varint.decode(self.multihash)[0]

    @property
    def digest(self) -> bytes:
        _, pos = varint.decode(self.multihash)
        _, pos = varint.decode(self.multihash, pos)
        return self.multihash[pos:]

    def matches(self, block: bytes | memoryview) -> bool:
        """Whether ``block`` hashes to this CID. UnsupportedContent for hash functions other than
        sha2-256 and identity (the only ones IPFS uses by default)."""
        code = self.hash_code
        if code == SHA2_256:
            return hashlib.sha256(block).digest() == self.digest
        if code == IDENTITY:
            return bytes(block) == self.digest
        raise UnsupportedContent(f"{self}: hash function 0x{code:x} is not supported")


def raw_leaf_cid(data: bytes) -> str:
    """The CIDv1 (raw leaves) that IPFS gives ``data`` when it fits in one chunk."""
    if len(data) > CHUNK_SIZE:
        raise ValueError(f"{len(data)} bytes is more than one {CHUNK_SIZE}-byte chunk")
    return str(CID.of_block(data, version=1, codec=RAW))


def _b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = bytearray()
    while number:
        number, remainder = divmod(number, 58)
        out.append(_BASE58_ALPHABET[remainder])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return (b"1" * zeros + bytes(reversed(out))).decode()


def _b58decode(text: str) -> bytes:
    number = 0
    for char in text.encode():
        index = _BASE58_INDEX.get(char)
        if index is None:
            raise ValueError(f"{chr(char)!r} is not a base58btc character")
        number = number * 58 + index
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * zeros + body
