"""The streaming AEAD: format, round trips and every kind of tampering (docs/data-path.md)."""

from __future__ import annotations

import io
import os
import struct
import tracemalloc
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datamarket.crypto.stream import (
    DEFAULT_CHUNK_SIZE,
    HEADER_SIZE,
    MAX_CHUNK_SIZE,
    TAG_SIZE,
    DecryptionError,
    StreamHeader,
    StreamParameterError,
    ciphertext_size,
    decrypt_bytes,
    decrypt_stream,
    decrypt_to_path,
    encrypt_bytes,
    encrypt_stream,
    new_content_key,
)
from datamarket.errors import DatamarketError

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))

chunk_sizes = st.integers(min_value=1, max_value=64)


@st.composite
def plaintexts(draw: st.DrawFn, *, max_chunks: int = 4) -> tuple[bytes, int]:
    """A chunk size and a plaintext of 0 .. max_chunks chunks, often right at a chunk boundary."""
    chunk_size = draw(chunk_sizes)
    size = draw(
        st.one_of(
            st.integers(min_value=0, max_value=max_chunks * chunk_size),
            st.integers(min_value=0, max_value=max_chunks).flatmap(
                lambda n: st.sampled_from([max(0, n * chunk_size - 1), n * chunk_size, n * chunk_size + 1])
            ),
        )
    )
    return draw(st.binary(min_size=size, max_size=size)), chunk_size


@st.composite
def multi_chunk(draw: st.DrawFn) -> tuple[bytes, int]:
    """A plaintext of at least two chunks."""
    chunk_size = draw(chunk_sizes)
    size = draw(st.integers(min_value=chunk_size + 1, max_value=5 * chunk_size))
    return draw(st.binary(min_size=size, max_size=size)), chunk_size


def split(ciphertext: bytes, chunk_size: int) -> tuple[bytes, list[bytes]]:
    """The header and the sealed chunks (each chunk_size + 16 bytes, the last possibly shorter)."""
    sealed = chunk_size + TAG_SIZE
    body = ciphertext[HEADER_SIZE:]
    return ciphertext[:HEADER_SIZE], [body[i : i + sealed] for i in range(0, len(body), sealed)]


def seal_chunk(key: bytes, header: bytes, index: int, last: bool, plaintext: bytes) -> bytes:
    """One chunk sealed straight from the spec, independently of the module under test."""
    nonce = header[10:17] + struct.pack(">I", index) + bytes([last])
    return AESGCM(key).encrypt(nonce, plaintext, header)


def refused(ciphertext: bytes, key: bytes = KEY) -> DecryptionError:
    with pytest.raises(DecryptionError) as caught:
        decrypt_bytes(ciphertext, key)
    error = caught.value
    assert error.code == "decryption_failed"
    assert isinstance(error, DatamarketError)
    assert isinstance(error, ValueError)
    assert key.hex() not in str(error)
    assert repr(key) not in str(error)
    return error


# --- format ---------------------------------------------------------------------------------------


def test_header_layout():
    ciphertext = encrypt_bytes(b"hello", KEY, chunk_size=1000)
    assert ciphertext[:5] == b"DMENC"
    assert ciphertext[5] == 1
    assert int.from_bytes(ciphertext[6:10], "big") == 1000
    header = StreamHeader.parse(ciphertext)
    assert header.chunk_size == 1000
    assert header.nonce_prefix == ciphertext[10:17]
    assert header.to_bytes() == ciphertext[:17]


@given(plaintexts())
@settings(max_examples=60)
def test_chunks_are_exactly_what_the_spec_says(case: tuple[bytes, int]):
    plaintext, chunk_size = case
    ciphertext = encrypt_bytes(plaintext, KEY, chunk_size=chunk_size)
    header, chunks = split(ciphertext, chunk_size)
    pieces = [plaintext[i : i + chunk_size] for i in range(0, len(plaintext), chunk_size)] or [b""]
    expected = [seal_chunk(KEY, header, i, i == len(pieces) - 1, p) for i, p in enumerate(pieces)]
    assert chunks == expected


@pytest.mark.parametrize(
    ("size", "chunks"),
    [(0, 1), (1, 1), (65535, 1), (65536, 1), (65537, 2), (131072, 2), (131073, 3)],
)
def test_default_chunk_size_around_boundaries(size: int, chunks: int):
    plaintext = os.urandom(size)
    ciphertext = encrypt_bytes(plaintext, KEY)
    assert len(ciphertext) == HEADER_SIZE + size + chunks * TAG_SIZE == ciphertext_size(size)
    assert int.from_bytes(ciphertext[6:10], "big") == DEFAULT_CHUNK_SIZE
    assert decrypt_bytes(ciphertext, KEY) == plaintext


def test_nonce_prefix_is_fresh_per_encryption():
    first = encrypt_bytes(b"same", KEY)
    second = encrypt_bytes(b"same", KEY)
    assert first[10:17] != second[10:17]
    assert first != second


def test_new_content_key_is_32_random_bytes():
    keys = {new_content_key() for _ in range(8)}
    assert len(keys) == 8
    assert all(len(k) == 32 for k in keys)


# --- round trips ----------------------------------------------------------------------------------


@given(plaintexts(), st.binary(min_size=32, max_size=32))
@settings(max_examples=150)
def test_round_trip(case: tuple[bytes, int], key: bytes):
    plaintext, chunk_size = case
    ciphertext = encrypt_bytes(plaintext, key, chunk_size=chunk_size)
    assert len(ciphertext) == ciphertext_size(len(plaintext), chunk_size)
    assert decrypt_bytes(ciphertext, key) == plaintext


class Trickle(io.RawIOBase):
    """A source that returns at most three bytes per read, like a slow pipe."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._data.read(min(size, 3) if size >= 0 else 3)


@given(plaintexts())
@settings(max_examples=40)
def test_round_trip_through_short_reads(case: tuple[bytes, int]):
    plaintext, chunk_size = case
    encrypted = io.BytesIO()
    written = encrypt_stream(Trickle(plaintext), encrypted, KEY, chunk_size=chunk_size)
    assert written == len(encrypted.getvalue()) == ciphertext_size(len(plaintext), chunk_size)
    decrypted = io.BytesIO()
    assert decrypt_stream(Trickle(encrypted.getvalue()), decrypted, KEY) == len(plaintext)
    assert decrypted.getvalue() == plaintext


def test_progress_reports_plaintext_bytes_per_chunk():
    plaintext = os.urandom(250)
    seen_encrypt: list[int] = []
    seen_decrypt: list[int] = []
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(plaintext), out, KEY, chunk_size=100, progress=seen_encrypt.append)
    decrypt_stream(io.BytesIO(out.getvalue()), io.BytesIO(), KEY, progress=seen_decrypt.append)
    assert seen_encrypt == seen_decrypt == [100, 100, 50]


def test_memory_stays_flat():
    """8 MiB through 64 KiB chunks never holds more than a few chunks at once."""
    total = 8 * 1024 * 1024

    class Zeros(io.RawIOBase):
        def __init__(self) -> None:
            self.left = total

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            size = min(size, self.left)
            self.left -= size
            return bytes(size)

    class Sink(io.RawIOBase):
        def __init__(self) -> None:
            self.count = 0

        def writable(self) -> bool:
            return True

        def write(self, data: bytes) -> int:  # type: ignore[override]
            self.count += len(data)
            return len(data)

    sink = Sink()
    tracemalloc.start()
    try:
        encrypt_stream(Zeros(), sink, KEY)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sink.count == ciphertext_size(total)
    assert peak < 8 * DEFAULT_CHUNK_SIZE


# --- tampering ------------------------------------------------------------------------------------


@given(plaintexts(max_chunks=3), st.data())
@settings(max_examples=150)
def test_truncation_at_any_byte_is_refused(case: tuple[bytes, int], data: st.DataObject):
    plaintext, chunk_size = case
    ciphertext = encrypt_bytes(plaintext, KEY, chunk_size=chunk_size)
    cut = data.draw(st.integers(min_value=0, max_value=len(ciphertext) - 1), label="cut")
    refused(ciphertext[:cut])


def test_every_truncation_of_one_stream_is_refused():
    ciphertext = encrypt_bytes(os.urandom(40), KEY, chunk_size=16)
    for cut in range(len(ciphertext)):
        refused(ciphertext[:cut])


@given(plaintexts(max_chunks=3), st.data())
@settings(max_examples=200)
def test_flipping_any_bit_is_refused(case: tuple[bytes, int], data: st.DataObject):
    plaintext, chunk_size = case
    ciphertext = bytearray(encrypt_bytes(plaintext, KEY, chunk_size=chunk_size))
    bit = data.draw(st.integers(min_value=0, max_value=len(ciphertext) * 8 - 1), label="bit")
    ciphertext[bit // 8] ^= 1 << (bit % 8)
    refused(bytes(ciphertext))


def test_flipping_every_bit_of_one_stream_is_refused():
    ciphertext = encrypt_bytes(os.urandom(20), KEY, chunk_size=8)
    for bit in range(len(ciphertext) * 8):
        tampered = bytearray(ciphertext)
        tampered[bit // 8] ^= 1 << (bit % 8)
        refused(bytes(tampered))


@given(multi_chunk(), st.data())
@settings(max_examples=100)
def test_reordering_two_chunks_is_refused(case: tuple[bytes, int], data: st.DataObject):
    plaintext, chunk_size = case
    header, chunks = split(encrypt_bytes(plaintext, KEY, chunk_size=chunk_size), chunk_size)
    i, j = data.draw(
        st.lists(st.integers(0, len(chunks) - 1), min_size=2, max_size=2, unique=True), label="swap"
    )
    chunks[i], chunks[j] = chunks[j], chunks[i]
    error = refused(header + b"".join(chunks))
    assert error.details["chunk"] == min(i, j)


@given(plaintexts(max_chunks=4))
@settings(max_examples=100)
def test_dropping_the_last_chunk_is_refused(case: tuple[bytes, int]):
    plaintext, chunk_size = case
    header, chunks = split(encrypt_bytes(plaintext, KEY, chunk_size=chunk_size), chunk_size)
    error = refused(header + b"".join(chunks[:-1]))
    assert "truncated" in str(error)


def test_dropping_a_full_last_chunk_names_the_truncation():
    plaintext = os.urandom(48)
    header, chunks = split(encrypt_bytes(plaintext, KEY, chunk_size=16), 16)
    assert len(chunks) == 3
    error = refused(header + b"".join(chunks[:2]))
    assert str(error) == "truncated: the stream ends after chunk 1, which is not the last chunk"
    assert error.details == {"reason": "truncated", "chunk": 1}


@given(plaintexts(max_chunks=3), st.data())
@settings(max_examples=100)
def test_appending_a_chunk_is_refused(case: tuple[bytes, int], data: st.DataObject):
    plaintext, chunk_size = case
    ciphertext = encrypt_bytes(plaintext, KEY, chunk_size=chunk_size)
    header, chunks = split(ciphertext, chunk_size)
    extra = data.draw(
        st.one_of(
            # a well-formed chunk sealed under the real key as the new last one: only the flags catch it
            st.binary(max_size=chunk_size).map(lambda p: seal_chunk(KEY, header, len(chunks), True, p)),
            st.sampled_from(chunks),
            st.binary(min_size=1, max_size=chunk_size + TAG_SIZE),
        ),
        label="extra",
    )
    refused(ciphertext + extra)


def test_appending_a_sealed_last_chunk_names_the_trailing_data():
    ciphertext = encrypt_bytes(b"x" * 16, KEY, chunk_size=16)
    header, _ = split(ciphertext, 16)
    error = refused(ciphertext + seal_chunk(KEY, header, 1, True, b"more"))
    assert str(error) == "data follows chunk 0, which is the last chunk"


@given(plaintexts(max_chunks=3))
@settings(max_examples=50)
def test_wrong_key_is_refused(case: tuple[bytes, int]):
    plaintext, chunk_size = case
    error = refused(encrypt_bytes(plaintext, KEY, chunk_size=chunk_size), OTHER_KEY)
    assert error.details == {"reason": "authentication_failed", "chunk": 0}
    assert str(error) == "chunk 0 failed authentication: wrong key, or the data was modified or reordered"


@given(plaintexts(max_chunks=3))
@settings(max_examples=50)
def test_header_swapped_from_another_encryption_is_refused(case: tuple[bytes, int]):
    plaintext, chunk_size = case
    first = encrypt_bytes(plaintext, KEY, chunk_size=chunk_size)
    second = encrypt_bytes(plaintext, KEY, chunk_size=chunk_size)
    refused(second[:HEADER_SIZE] + first[HEADER_SIZE:])


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: b"DMENX" + c[5:], "not a datamarket encrypted stream (bad magic)"),
        (lambda c: c[:5] + b"\x02" + c[6:], "unsupported stream version 2 (this reader knows version 1)"),
        (lambda c: c[:6] + (0).to_bytes(4, "big") + c[10:], "invalid chunk size 0 in header"),
        (
            lambda c: c[:6] + (MAX_CHUNK_SIZE + 1).to_bytes(4, "big") + c[10:],
            f"invalid chunk size {MAX_CHUNK_SIZE + 1} in header",
        ),
        (lambda c: c[:10], "truncated header: 10 of 17 bytes"),
        (lambda c: c[:17], "truncated: no chunk after the header"),
        (lambda c: c[: 17 + 15], "truncated: chunk 0 has 15 bytes, fewer than its 16-byte tag"),
    ],
)
def test_bad_headers_and_stubs_have_clear_messages(edit, message):
    error = refused(edit(encrypt_bytes(b"some data", KEY, chunk_size=64)))
    assert str(error).startswith(message)


def test_no_plaintext_of_a_failing_chunk_is_written():
    plaintext = os.urandom(64)
    ciphertext = bytearray(encrypt_bytes(plaintext, KEY, chunk_size=16))
    ciphertext[HEADER_SIZE + 2 * (16 + TAG_SIZE) + 3] ^= 0x01  # inside chunk 2
    out = io.BytesIO()
    with pytest.raises(DecryptionError) as caught:
        decrypt_stream(io.BytesIO(bytes(ciphertext)), out, KEY)
    assert caught.value.details["chunk"] == 2
    assert out.getvalue() == plaintext[:32]


# --- decrypt_to_path ------------------------------------------------------------------------------


def test_decrypt_to_path_writes_the_plaintext(tmp_path: Path):
    plaintext = os.urandom(1000)
    target = tmp_path / "data.csv"
    size = decrypt_to_path(io.BytesIO(encrypt_bytes(plaintext, KEY, chunk_size=100)), target, KEY)
    assert size == 1000
    assert target.read_bytes() == plaintext
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]


def test_decrypt_to_path_leaves_nothing_on_failure(tmp_path: Path):
    ciphertext = bytearray(encrypt_bytes(os.urandom(1000), KEY, chunk_size=100))
    ciphertext[-1] ^= 0x80
    target = tmp_path / "data.csv"
    with pytest.raises(DecryptionError):
        decrypt_to_path(io.BytesIO(bytes(ciphertext)), target, KEY)
    assert list(tmp_path.iterdir()) == []


def test_decrypt_to_path_keeps_an_existing_file_on_failure(tmp_path: Path):
    target = tmp_path / "data.csv"
    target.write_bytes(b"previous")
    with pytest.raises(DecryptionError):
        decrypt_to_path(io.BytesIO(encrypt_bytes(b"new", KEY)), target, OTHER_KEY)
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["data.csv"]


# --- parameters -----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [b"", b"\0" * 16, b"\0" * 31, b"\0" * 33])
def test_keys_of_the_wrong_size_are_refused(key: bytes):
    with pytest.raises(StreamParameterError, match="content key must be 32 bytes") as caught:
        encrypt_bytes(b"x", key)
    assert caught.value.code == "invalid_stream_parameter"
    with pytest.raises(StreamParameterError):
        decrypt_bytes(encrypt_bytes(b"x", KEY), key)


@pytest.mark.parametrize("chunk_size", [0, -1, MAX_CHUNK_SIZE + 1])
def test_chunk_sizes_out_of_range_are_refused(chunk_size: int):
    with pytest.raises(StreamParameterError, match="chunk size"):
        encrypt_bytes(b"x", KEY, chunk_size=chunk_size)
    with pytest.raises(StreamParameterError, match="chunk size"):
        ciphertext_size(10, chunk_size)


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=1, max_value=1000))
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_ciphertext_size_formula(size: int, chunk_size: int):
    chunks = max(1, (size + chunk_size - 1) // chunk_size)
    assert ciphertext_size(size, chunk_size) == 17 + size + 16 * chunks
