"""The parts of KuboStore that need no node; tests/integration/storage runs it against a real one."""

from __future__ import annotations

import random

import pytest

from datamarket.errors import ConfigError
from datamarket.storage.base import ContentCorrupted
from datamarket.storage.cid import CHUNK_SIZE, CID
from datamarket.storage.kubo import KuboStore, _multiaddr
from datamarket.storage.unixfs import import_bytes


@pytest.mark.parametrize(
    ("url", "api_url", "multiaddr"),
    [
        ("http://127.0.0.1:5001", "http://127.0.0.1:5001", "/ip4/127.0.0.1/tcp/5001/http"),
        ("http://127.0.0.1:5001/api/v0/", "http://127.0.0.1:5001", "/ip4/127.0.0.1/tcp/5001/http"),
        ("https://ipfs.example.org", "https://ipfs.example.org", "/dns/ipfs.example.org/tcp/443/https"),
        ("http://[::1]:5001", "http://[::1]:5001", "/ip6/::1/tcp/5001/http"),
    ],
)
def test_api_urls(url, api_url, multiaddr):
    store = KuboStore(url)
    assert store.api_url == api_url and _multiaddr(store.api_url) == multiaddr


@pytest.mark.parametrize(
    "url", ["127.0.0.1:5001", "ftp://host", "http://host:port", "http://host/other/path"]
)
def test_bad_urls_are_configuration_errors(url):
    with pytest.raises(ConfigError):
        KuboStore(url)


def pieces(data: bytes, size: int = 65536) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("version", [0, 1])
@pytest.mark.parametrize("size", [0, 10, CHUNK_SIZE, 3 * CHUNK_SIZE + 1])
def test_cat_check_passes_the_right_bytes_through(version, size):
    data = random.Random(size).randbytes(size)
    root = import_bytes(data, cid_version=version).cid
    assert b"".join(KuboStore("http://127.0.0.1:1")._verified(root, iter(pieces(data)))) == data


@pytest.mark.parametrize("version", [0, 1])
def test_cat_check_holds_back_the_last_piece_of_wrong_bytes(version):
    data = random.Random(5).randbytes(3 * CHUNK_SIZE)
    root = import_bytes(data, cid_version=version).cid
    damaged = bytearray(data)
    damaged[CHUNK_SIZE + 3] ^= 1
    received = []
    with pytest.raises(ContentCorrupted):
        for piece in KuboStore("http://127.0.0.1:1")._verified(root, iter(pieces(bytes(damaged)))):
            received.append(piece)
    assert b"".join(received) == bytes(damaged[: len(data) - 65536])  # all but the held-back piece


def test_cat_check_of_a_raw_block_and_of_truncated_content():
    root = CID.of_block(b"hello", version=1, codec=0x55)
    store = KuboStore("http://127.0.0.1:1")
    assert b"".join(store._verified(root, iter([b"he", b"llo"]))) == b"hello"
    with pytest.raises(ContentCorrupted):
        b"".join(store._verified(root, iter([b"he", b"ll"])))
