from __future__ import annotations

import hashlib
import io
import os
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datamarket.storage import open_store
from datamarket.storage.base import (
    CarStore,
    ContentCorrupted,
    ContentNotFound,
    ContentStore,
    InvalidCID,
    StorageError,
    add_bytes,
    cat_bytes,
)
from datamarket.storage.cid import CHUNK_SIZE, CID
from datamarket.storage.embedded import EmbeddedStore
from datamarket.storage.kubo import KuboStore


def sample(size: int, seed: int = 0) -> bytes:
    return random.Random(f"{seed}-{size}").randbytes(size)


def block_files(store: EmbeddedStore) -> list[Path]:
    return sorted(path for path in (store.root / "blocks").rglob("*") if path.is_file())


@pytest.fixture
def store(tmp_path: Path) -> EmbeddedStore:
    return EmbeddedStore(tmp_path / "store")


def test_it_is_a_content_store_with_car_transport(store):
    assert isinstance(store, ContentStore) and isinstance(store, CarStore)


def test_open_store_picks_the_embedded_store_for_paths_and_kubo_for_urls(tmp_path):
    embedded = open_store(tmp_path / "s")
    assert isinstance(embedded, EmbeddedStore) and embedded.root == tmp_path / "s"
    kubo = open_store("http://127.0.0.1:5001/")
    assert isinstance(kubo, KuboStore) and kubo.api_url == "http://127.0.0.1:5001"


def test_creating_a_store_touches_nothing(tmp_path):
    EmbeddedStore(tmp_path / "store")
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize("version", [0, 1])
def test_add_stores_blocks_pins_and_cat_returns_the_bytes(store, version):
    data = sample(3 * CHUNK_SIZE + 5)
    cid = store.add(io.BytesIO(data), cid_version=version)
    assert cid == str(CID.parse(cid)) and CID.parse(cid).version == version
    assert store.has(cid) and store.pins() == [cid]
    assert len(block_files(store)) == 5  # four leaves and the root
    assert cat_bytes(store, cid) == data


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.integers(min_value=0, max_value=3 * CHUNK_SIZE + 7), version=st.sampled_from([0, 1]))
def test_round_trip_for_random_sizes(tmp_path, size, version):
    store = EmbeddedStore(tmp_path / "rt", sync=False)
    data = sample(size, seed=version)
    cid = store.add(io.BytesIO(data), cid_version=version)
    assert cat_bytes(store, cid) == data
    assert store.add(io.BytesIO(data), cid_version=version, only_hash=True) == cid


def test_only_hash_writes_nothing(store):
    cid = store.add(io.BytesIO(sample(1000)), only_hash=True)
    assert not store.has(cid)
    assert not store.root.exists()


def test_cidv0_and_cidv1_of_a_dag_pb_root_share_their_block(store):
    cid = store.add(io.BytesIO(sample(1000)), cid_version=0)
    v1 = str(CID.parse(cid).to_v1())
    assert store.has(v1)
    assert cat_bytes(store, v1) == sample(1000)


def test_a_flipped_bit_in_any_block_is_detected(store):
    data = sample(2 * CHUNK_SIZE + 1)
    cid = store.add(io.BytesIO(data))
    for path in block_files(store):
        original = path.read_bytes()
        damaged = bytearray(original)
        damaged[len(damaged) // 2] ^= 0x01
        path.write_bytes(bytes(damaged))
        with pytest.raises(ContentCorrupted):
            cat_bytes(store, cid)
        path.write_bytes(original)
    assert cat_bytes(store, cid) == data


def test_corrupted_block_is_never_yielded(store):
    data = sample(2 * CHUNK_SIZE)
    cid = store.add(io.BytesIO(data))
    second = store._path(CID.of_block(data[CHUNK_SIZE:], version=1, codec=0x55))
    second.write_bytes(b"\0" * CHUNK_SIZE)
    received = []
    with pytest.raises(ContentCorrupted):
        for piece in store.cat(cid):
            received.append(piece)
    assert received == [data[:CHUNK_SIZE]]


def test_missing_content_and_blocks(store):
    missing = str(CID.of_block(b"nope", version=1, codec=0x55))
    assert not store.has(missing)
    with pytest.raises(ContentNotFound):
        store.cat(missing)
    with pytest.raises(ContentNotFound):
        store.pin(missing)

    cid = store.add(io.BytesIO(sample(2 * CHUNK_SIZE)))
    block_files(store)[0].unlink()
    with pytest.raises(ContentNotFound):
        cat_bytes(store, cid)
    with pytest.raises(InvalidCID):
        store.has("not-a-cid")


def test_pin_unpin(store):
    cid = add_bytes(store, sample(10))
    store.unpin(cid)
    assert store.pins() == [] and store.has(cid)
    store.unpin(cid)  # idempotent
    store.pin(cid)
    store.pin(cid)
    assert store.pins() == [cid]


def test_pin_requires_every_block_intact(store):
    cid = store.add(io.BytesIO(sample(2 * CHUNK_SIZE)))
    store.unpin(cid)
    leaf = block_files(store)[0]
    leaf.write_bytes(b"bad")
    with pytest.raises(ContentCorrupted):
        store.pin(cid)
    assert store.pins() == []


def test_every_stored_file_is_a_whole_block(store):
    store.add(io.BytesIO(sample(5 * CHUNK_SIZE + 3)), cid_version=0)
    for path in block_files(store):
        assert path.name == "1220" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_failed_write_leaves_no_partial_block(store, monkeypatch):
    """A crash between writing the temporary file and renaming it: no block, no temporary file."""
    real_replace = os.replace
    calls = {"count": 0}

    def crash_on_third(source, destination):
        calls["count"] += 1
        if calls["count"] == 3:
            raise OSError("simulated crash")
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", crash_on_third)
    data = sample(4 * CHUNK_SIZE)
    with pytest.raises(OSError, match="simulated crash"):
        store.add(io.BytesIO(data))
    monkeypatch.undo()
    assert len(block_files(store)) == 2  # the two blocks renamed before the crash, whole
    assert list((store.root / "tmp").iterdir()) == []
    assert store.pins() == []  # the pin is written only after every block


def test_an_interrupted_add_leaves_no_pin_and_a_retry_completes(store):
    data = sample(3 * CHUNK_SIZE)

    class Failing(io.BytesIO):
        def readinto(self, buffer):
            if self.tell() >= 2 * CHUNK_SIZE:
                raise ConnectionResetError("upload interrupted")
            return super().readinto(buffer)

    with pytest.raises(ConnectionResetError):
        store.add(Failing(data))
    assert store.pins() == []
    cid = store.add(io.BytesIO(data))
    assert store.pins() == [cid] and cat_bytes(store, cid) == data


def test_sync_false_still_writes_through_rename(tmp_path):
    store = EmbeddedStore(tmp_path / "nosync", sync=False)
    cid = add_bytes(store, b"hello")
    assert cat_bytes(store, cid) == b"hello" and store.pins() == [cid]


def test_cat_bytes_limit(store):
    cid = add_bytes(store, sample(2 * CHUNK_SIZE))
    with pytest.raises(StorageError, match="larger than"):
        cat_bytes(store, cid, max_size=CHUNK_SIZE)
