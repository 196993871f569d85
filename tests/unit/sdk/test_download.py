"""The download path's local parts: streaming decryption out of a store, all or nothing."""

import hashlib
import io

import pytest

from datamarket.crypto import stream
from datamarket.sdk.download import _decrypt, _prefetch
from datamarket.storage.base import ContentCorrupted
from datamarket.storage.embedded import EmbeddedStore


def _published(tmp_path, data: bytes):
    store = EmbeddedStore(tmp_path / "store")
    key = stream.new_content_key()
    cid = store.add(io.BytesIO(stream.encrypt_bytes(data, key, chunk_size=4096)))
    return store, key, cid


def test_decrypts_from_the_store_and_checks_the_sha256(tmp_path):
    data = bytes(range(256)) * 3000
    store, key, cid = _published(tmp_path, data)
    out = tmp_path / "out" / "data.bin"
    _decrypt(store, cid, key, out, hashlib.sha256(data).hexdigest())
    assert out.read_bytes() == data


def test_a_wrong_sha256_leaves_no_file(tmp_path):
    store, key, cid = _published(tmp_path, b"the real rows")
    out = tmp_path / "data.bin"
    with pytest.raises(stream.PlaintextMismatch):
        _decrypt(store, cid, key, out, hashlib.sha256(b"other rows").hexdigest())
    assert not out.exists()
    assert list(tmp_path.glob(".data.bin.*")) == []


def test_a_wrong_key_leaves_no_file(tmp_path):
    store, _, cid = _published(tmp_path, b"x" * 10000)
    out = tmp_path / "data.bin"
    with pytest.raises(stream.DecryptionError):
        _decrypt(store, cid, stream.new_content_key(), out, hashlib.sha256(b"x" * 10000).hexdigest())
    assert not out.exists()


def test_prefetch_keeps_order_and_reraises_the_producers_error():
    assert list(_prefetch(iter([b"a", b"b", b"c"]), depth=1)) == [b"a", b"b", b"c"]

    def broken():
        yield b"first"
        raise ContentCorrupted("block does not match its CID")

    got = []
    with pytest.raises(ContentCorrupted):
        for chunk in _prefetch(broken()):
            got.append(chunk)
    assert got == [b"first"]


def test_prefetch_stops_its_thread_when_the_consumer_stops_early():
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield bytes([i % 256])
            i += 1

    it = _prefetch(endless(), depth=2)
    assert next(it) == b"\x00"
    it.close()
    count = len(produced)
    assert count <= 6
