"""CAR answers under gunicorn: streamed, and cut off (never ended cleanly) when a block goes bad."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator

import pytest
import requests

from datamarket.storage.car import CarReader
from datamarket.storage.cid import CHUNK_SIZE, CID, RAW
from datamarket.storage.embedded import EmbeddedStore
from tests.gateway_server import running_gateway

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedStore:
    return EmbeddedStore(tmp_path_factory.mktemp("streaming") / "store", sync=False)


@pytest.fixture(scope="module")
def gateway(store: EmbeddedStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store.add(io.BytesIO(b"the store's folder exists"))
    with running_gateway(str(store.root), tmp_path_factory.mktemp("log") / "gateway.log") as url:
        yield url


def test_a_car_is_sent_chunked_and_reads_back_whole(store, gateway):
    data = random.Random(3).randbytes(40 * CHUNK_SIZE)
    cid = store.add(io.BytesIO(data), cid_version=0)
    with requests.get(f"{gateway}/ipfs/{cid}?format=car", stream=True, timeout=60) as answer:
        assert answer.headers.get("Transfer-Encoding") == "chunked"
        assert "Content-Length" not in answer.headers
        answer.raw.decode_content = True
        blocks = list(CarReader(answer.raw))
    assert len(blocks) == 41 and str(blocks[0][0]) == cid


def test_a_bad_block_mid_car_closes_the_connection_before_the_end(store, gateway):
    data = random.Random(4).randbytes(5 * CHUNK_SIZE)
    cid = store.add(io.BytesIO(data))
    leaf = CID.of_block(data[3 * CHUNK_SIZE : 4 * CHUNK_SIZE], version=1, codec=RAW)
    path = next(p for p in (store.root / "blocks").rglob("*") if p.name == leaf.multihash.hex())
    path.write_bytes(b"\0" * 10)
    with requests.get(f"{gateway}/ipfs/{cid}?format=car", stream=True, timeout=60) as answer:
        assert answer.status_code == 200
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            b"".join(answer.iter_content(1 << 16))
