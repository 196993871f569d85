from __future__ import annotations

import io
import random

import pytest

from datamarket.storage import car
from datamarket.storage.base import ContentCorrupted, ContentNotFound, InvalidCar, cat_bytes
from datamarket.storage.cid import CHUNK_SIZE, CID
from datamarket.storage.embedded import EmbeddedStore

# `ipfs dag export` of b"hello" added with --cid-version 0 and with --cid-version 1 (js-ipfs 0.66.1).
HELLO_V0 = "QmWfVY9y3xjsixTgbd9AorQxH7VtMpzfx2HaWtsoUYecaX"
HELLO_V0_CAR = bytes.fromhex(
    "38a265726f6f747381d82a58230012207bb129136cd5c391f6a2401e5cb7317575dcf79352249536bea3a937aef9bd9c"
    "6776657273696f6e012f12207bb129136cd5c391f6a2401e5cb7317575dcf79352249536bea3a937aef9bd9c0a0b0802"
    "120568656c6c6f1805"
)
HELLO_V1 = "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"
HELLO_V1_CAR = bytes.fromhex(
    "3aa265726f6f747381d82a582500015512202cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b"
    "98246776657273696f6e0129015512202cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    "68656c6c6f"
)


def sample(size: int) -> bytes:
    return random.Random(size).randbytes(size)


def export(store: EmbeddedStore, cid: str) -> bytes:
    out = io.BytesIO()
    store.export_car(cid, out)
    return out.getvalue()


@pytest.fixture
def store(tmp_path):
    return EmbeddedStore(tmp_path / "a", sync=False)


@pytest.fixture
def other(tmp_path):
    return EmbeddedStore(tmp_path / "b", sync=False)


@pytest.mark.parametrize(
    ("version", "cid", "expected"), [(0, HELLO_V0, HELLO_V0_CAR), (1, HELLO_V1, HELLO_V1_CAR)]
)
def test_export_is_byte_identical_to_ipfs_dag_export(store, version, cid, expected):
    assert store.add(io.BytesIO(b"hello"), cid_version=version) == cid
    assert export(store, cid) == expected


@pytest.mark.parametrize(("cid", "car_bytes"), [(HELLO_V0, HELLO_V0_CAR), (HELLO_V1, HELLO_V1_CAR)])
def test_import_of_an_ipfs_dag_export(store, cid, car_bytes):
    assert store.import_car(io.BytesIO(car_bytes)) == [cid]
    assert store.pins() == [cid]
    assert cat_bytes(store, cid) == b"hello"


@pytest.mark.parametrize("version", [0, 1])
@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 17])
def test_round_trip_between_two_stores(store, other, size, version):
    data = sample(size)
    cid = store.add(io.BytesIO(data), cid_version=version)
    car_bytes = export(store, cid)
    reader = car.CarReader(io.BytesIO(car_bytes))
    assert reader.roots == [CID.parse(cid)]
    assert next(str(c) for c, _ in reader) == cid  # the root comes first
    assert other.import_car(io.BytesIO(car_bytes)) == [cid]
    assert cat_bytes(other, cid) == data
    assert export(other, cid) == car_bytes


def test_a_corrupted_block_in_a_car_is_refused_and_nothing_is_pinned(store, other):
    data = sample(2 * CHUNK_SIZE)
    cid = store.add(io.BytesIO(data))
    damaged = bytearray(export(store, cid))
    damaged[-100] ^= 0xFF  # inside the last leaf
    with pytest.raises(ContentCorrupted):
        other.import_car(io.BytesIO(bytes(damaged)))
    assert other.pins() == []
    assert not other.has(str(CID.of_block(data[CHUNK_SIZE:], version=1, codec=0x55)))


def test_a_car_without_every_block_is_refused_at_pinning(store, other):
    cid = store.add(io.BytesIO(sample(2 * CHUNK_SIZE)))
    root = CID.parse(cid)
    out = io.BytesIO()
    blocks = list(car.CarReader(io.BytesIO(export(store, cid))))
    car.write_car(out, [root], blocks[:-1])
    with pytest.raises(ContentNotFound):
        other.import_car(io.BytesIO(out.getvalue()))
    assert other.pins() == []


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x05abc",  # header cut short
        HELLO_V1_CAR[:-3],  # last section cut short
        bytes.fromhex("0aa16776657273696f6e02") + bytes(40),  # a CAR v2 pragma
        b"\x02\xa0\x00",  # header without roots or version
        car.encode_header([CID.parse(HELLO_V1)]) + b"\x00",  # empty section
        car.encode_header([CID.parse(HELLO_V1)]) + b"\x03\x01\x55\x12",  # section with a cut CID
        car.encode_header([CID.parse(HELLO_V1)]) + b"\xff\xff\xff\x0f",  # section of 32 MiB
    ],
)
def test_malformed_cars_are_refused(other, data):
    with pytest.raises(InvalidCar):
        other.import_car(io.BytesIO(data))


def test_export_of_missing_content(store):
    with pytest.raises(ContentNotFound):
        store.export_car(HELLO_V1, io.BytesIO())


def test_header_encoding_round_trips_several_roots():
    roots = [CID.parse(HELLO_V0), CID.parse(HELLO_V1)]
    assert car.CarReader(io.BytesIO(car.encode_header(roots))).roots == roots
