"""Streaming AEAD for dataset content: AES-256-GCM in fixed-size chunks (docs/data-path.md).

Format::

    header  = MAGIC "DMENC" | version u8 (=1) | chunk_size u32 BE | nonce_prefix 7 bytes   (17 bytes)
    chunk_i = AES-256-GCM(key, nonce = nonce_prefix | i u32 BE | last u8, aad = header, plaintext_i)

Every chunk holds ``chunk_size`` plaintext bytes except the last, which may be shorter (an empty
plaintext is one empty last chunk). Each chunk's nonce binds its index and whether it is the last, and
the whole header is its associated data, so reordering, dropping, appending, truncating or editing
anything (header included) makes decryption fail with :class:`DecryptionError`.

Memory stays flat: both directions hold one chunk and look ahead one more to learn which is the last.

Decrypting to a stream writes each chunk only after it has been authenticated, but chunks verified
before a failure have already been written by then. A caller that must never see a partial plaintext
writes to a temporary file and renames it only on success: :func:`decrypt_to_path` does exactly that.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from datamarket.atomic_files import atomic_writer
from datamarket.errors import DatamarketError

#: The metadata document's name for this format (``files[].encryption.algorithm``).
ALGORITHM = "AES-256-GCM-STREAM-1"
MAGIC = b"DMENC"
VERSION = 1
KEY_SIZE = 32
NONCE_PREFIX_SIZE = 7
TAG_SIZE = 16
DEFAULT_CHUNK_SIZE = 64 * 1024
MIN_CHUNK_SIZE = 1
#: Upper bound on ``chunk_size``, also enforced when reading a header, so that a forged header cannot
#: make a reader buffer gigabytes for one chunk.
MAX_CHUNK_SIZE = 16 * 1024 * 1024
#: Chunk indices are u32 in the nonce.
MAX_CHUNKS = 2**32

_HEADER = struct.Struct(">5sBI7s")
HEADER_SIZE = _HEADER.size  # 17

Progress = Callable[[int], object]
"""Called with the number of plaintext bytes of each chunk once it is done (like ``tqdm.update``)."""


class DecryptionError(DatamarketError, ValueError):
    """The ciphertext is not an intact stream encrypted under this key: tampered, truncated,
    reordered, extended, a wrong key, or a bad header. Messages never include key material."""

    code = "decryption_failed"


class PlaintextMismatch(DecryptionError):
    """Every chunk authenticated, but the plaintext is not the one the caller expected."""

    code = "plaintext_mismatch"


class StreamParameterError(DatamarketError, ValueError):
    """The caller passed a key or chunk size that the format does not allow."""

    code = "invalid_stream_parameter"


@dataclass(frozen=True)
class StreamHeader:
    """The 17-byte header that starts every encrypted stream."""

    chunk_size: int
    nonce_prefix: bytes
    version: int = VERSION

    def to_bytes(self) -> bytes:
        return _HEADER.pack(MAGIC, self.version, self.chunk_size, self.nonce_prefix)

    @classmethod
    def parse(cls, raw: bytes) -> StreamHeader:
        """Parse and check a header; raise :class:`DecryptionError` if it is not one this reader accepts."""
        if len(raw) < HEADER_SIZE:
            raise DecryptionError(
                f"truncated header: {len(raw)} of {HEADER_SIZE} bytes",
                details={"reason": "truncated_header"},
            )
        magic, version, chunk_size, nonce_prefix = _HEADER.unpack(raw[:HEADER_SIZE])
        if magic != MAGIC:
            raise DecryptionError(
                "not a datamarket encrypted stream (bad magic)", details={"reason": "bad_magic"}
            )
        if version != VERSION:
            raise DecryptionError(
                f"unsupported stream version {version} (this reader knows version {VERSION})",
                details={"reason": "unsupported_version", "version": version},
            )
        if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
            raise DecryptionError(
                f"invalid chunk size {chunk_size} in header (allowed {MIN_CHUNK_SIZE}..{MAX_CHUNK_SIZE})",
                details={"reason": "bad_chunk_size", "chunk_size": chunk_size},
            )
        return cls(chunk_size=chunk_size, nonce_prefix=nonce_prefix, version=version)


def new_content_key() -> bytes:
    """A fresh random 256-bit content key."""
    return secrets.token_bytes(KEY_SIZE)


def ciphertext_size(plaintext_size: int, chunk_size: int = DEFAULT_CHUNK_SIZE) -> int:
    """The exact size of the encryption of ``plaintext_size`` bytes in ``chunk_size`` chunks."""
    _check_chunk_size(chunk_size)
    if plaintext_size < 0:
        raise StreamParameterError(f"plaintext size must be >= 0, got {plaintext_size}")
    chunks = max(1, -(-plaintext_size // chunk_size))
    return HEADER_SIZE + plaintext_size + chunks * TAG_SIZE


def encrypt_stream(
    src: BinaryIO,
    dst: BinaryIO,
    key: bytes,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: Progress | None = None,
    nonce_prefix: bytes | None = None,
) -> int:
    """Encrypt everything ``src`` yields into ``dst``; return the number of bytes written.

    The header's nonce prefix is fresh and random; ``nonce_prefix`` fixes it only to produce a known
    answer (the protocol's test vectors, docs/protocol/stream.json): under one key, a prefix must
    never be used twice."""
    aead = AESGCM(_check_key(key))
    _check_chunk_size(chunk_size)
    if nonce_prefix is None:
        nonce_prefix = os.urandom(NONCE_PREFIX_SIZE)
    elif not isinstance(nonce_prefix, bytes) or len(nonce_prefix) != NONCE_PREFIX_SIZE:
        raise StreamParameterError(f"a nonce prefix is {NONCE_PREFIX_SIZE} bytes")
    header = StreamHeader(chunk_size=chunk_size, nonce_prefix=nonce_prefix).to_bytes()
    dst.write(header)
    written = len(header)
    index = 0
    chunk = _read_exact(src, chunk_size)
    while True:
        lookahead = b"" if len(chunk) < chunk_size else _read_exact(src, chunk_size)
        last = not lookahead
        if index >= MAX_CHUNKS:
            raise StreamParameterError(f"plaintext needs more than {MAX_CHUNKS} chunks of {chunk_size} bytes")
        sealed = aead.encrypt(_nonce(header, index, last), chunk, header)
        dst.write(sealed)
        written += len(sealed)
        if progress is not None:
            progress(len(chunk))
        if last:
            return written
        chunk = lookahead
        index += 1


def decrypt_stream(src: BinaryIO, dst: BinaryIO, key: bytes, *, progress: Progress | None = None) -> int:
    """Decrypt the stream in ``src`` into ``dst``; return the number of plaintext bytes written.

    Each chunk is written only after it authenticates; on :class:`DecryptionError` the chunks before
    the failing one are already in ``dst``. Write to a temporary file and keep it only on success
    (see :func:`decrypt_to_path`).
    """
    aead = AESGCM(_check_key(key))
    header_bytes = _read_exact(src, HEADER_SIZE)
    header = StreamHeader.parse(header_bytes)
    sealed_size = header.chunk_size + TAG_SIZE
    written = 0
    index = 0
    chunk = _read_exact(src, sealed_size)
    if not chunk:
        raise DecryptionError(
            "truncated: no chunk after the header", details={"reason": "truncated", "chunk": 0}
        )
    while True:
        lookahead = b"" if len(chunk) < sealed_size else _read_exact(src, sealed_size)
        last = not lookahead
        if index >= MAX_CHUNKS:
            raise DecryptionError(
                f"more than {MAX_CHUNKS} chunks", details={"reason": "too_many_chunks", "chunk": index}
            )
        plaintext = _open_chunk(aead, header_bytes, index, chunk, last)
        dst.write(plaintext)
        written += len(plaintext)
        if progress is not None:
            progress(len(plaintext))
        if last:
            return written
        chunk = lookahead
        index += 1


def decrypt_to_path(
    src: BinaryIO,
    path: str | os.PathLike[str],
    key: bytes,
    *,
    progress: Progress | None = None,
    expected_sha256: str | None = None,
) -> int:
    """Decrypt into ``path`` all or nothing; return the number of plaintext bytes.

    The plaintext goes to a temporary file (mode 0600) beside ``path``, which replaces ``path`` only
    once every chunk has authenticated and, with ``expected_sha256``, the plaintext's sha256 (taken
    as it is written, so the file is not read twice) matches. On any error the temporary file is
    removed and an existing ``path`` is left untouched.
    """
    with atomic_writer(path) as tmp:
        sink = _HashingWriter(tmp)
        size = decrypt_stream(src, sink, key, progress=progress)
        if expected_sha256 is not None and sink.digest.hexdigest() != expected_sha256.lower():
            raise PlaintextMismatch(
                "the decrypted plaintext's sha256 differs from the expected one",
                details={"reason": "plaintext_sha256"},
            )
    return size


class _HashingWriter:
    """Writes through to a file and keeps the sha256 of what went through."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.out.write(data)


def encrypt_bytes(
    plaintext: bytes, key: bytes, *, chunk_size: int = DEFAULT_CHUNK_SIZE, nonce_prefix: bytes | None = None
) -> bytes:
    """Encrypt an in-memory plaintext (convenience for small data and tests)."""
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(plaintext), out, key, chunk_size=chunk_size, nonce_prefix=nonce_prefix)
    return out.getvalue()


def decrypt_bytes(ciphertext: bytes, key: bytes) -> bytes:
    """Decrypt an in-memory stream; all or nothing."""
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(ciphertext), out, key)
    return out.getvalue()


def _open_chunk(aead: AESGCM, header: bytes, index: int, sealed: bytes, last: bool) -> bytes:
    if len(sealed) < TAG_SIZE:
        raise DecryptionError(
            f"truncated: chunk {index} has {len(sealed)} bytes, fewer than its {TAG_SIZE}-byte tag",
            details={"reason": "truncated", "chunk": index},
        )
    try:
        return aead.decrypt(_nonce(header, index, last), sealed, header)
    except InvalidTag:
        pass
    # Authenticates under the other flag: the chunk is intact, the stream around it is not. Only to
    # name the failure; this plaintext is discarded.
    try:
        aead.decrypt(_nonce(header, index, not last), sealed, header)
    except InvalidTag:
        raise DecryptionError(
            f"chunk {index} failed authentication: wrong key, or the data was modified or reordered",
            details={"reason": "authentication_failed", "chunk": index},
        ) from None
    if last:
        message = f"truncated: the stream ends after chunk {index}, which is not the last chunk"
        reason = "truncated"
    else:
        message = f"data follows chunk {index}, which is the last chunk"
        reason = "trailing_data"
    raise DecryptionError(message, details={"reason": reason, "chunk": index})


def _nonce(header: bytes, index: int, last: bool) -> bytes:
    return header[HEADER_SIZE - NONCE_PREFIX_SIZE : HEADER_SIZE] + struct.pack(">IB", index, last)


def _read_exact(src: BinaryIO, size: int) -> bytes:
    """Read ``size`` bytes, fewer only at end of stream (raw streams and pipes may return short reads)."""
    data = src.read(size)
    if data is None or len(data) == size or not data:
        return data or b""
    parts = [data]
    missing = size - len(data)
    while missing:
        more = src.read(missing)
        if not more:
            break
        parts.append(more)
        missing -= len(more)
    return b"".join(parts)


def _check_key(key: bytes) -> bytes:
    if not isinstance(key, bytes | bytearray | memoryview) or len(key) != KEY_SIZE:
        size = len(key) if isinstance(key, bytes | bytearray | memoryview) else type(key).__name__
        raise StreamParameterError(f"content key must be {KEY_SIZE} bytes, got {size}")
    return bytes(key)


def _check_chunk_size(chunk_size: int) -> None:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
        raise StreamParameterError(f"chunk size must be an int, got {type(chunk_size).__name__}")
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise StreamParameterError(
            f"chunk size must be between {MIN_CHUNK_SIZE} and {MAX_CHUNK_SIZE}, got {chunk_size}"
        )
