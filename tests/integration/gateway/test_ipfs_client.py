"""Real IPFS clients fetch files through the gateway: @helia/verified-fetch, whose only source of
blocks is our gateway (one ``GET /ipfs/{cid}?format=raw`` per block, each checked against its CID),
and the IPLD libraries (@ipld/car, ipfs-unixfs-exporter) rebuilding a file from the gateway's CAR."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator

import pytest

from datamarket.storage.cid import CHUNK_SIZE, CID, RAW
from datamarket.storage.embedded import EmbeddedStore
from datamarket.storage.unixfs import MAX_LINKS
from tests.gateway_server import IpfsClient, ipfs_client, running_gateway

pytestmark = pytest.mark.integration

#: A root over inner nodes over leaves: more leaves than one node links to.
TWO_LEVELS = (MAX_LINKS + 3) * CHUNK_SIZE + 5


@pytest.fixture(scope="module")
def client() -> IpfsClient:
    return ipfs_client()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedStore:
    return EmbeddedStore(tmp_path_factory.mktemp("gateway-store") / "store", sync=False)


@pytest.fixture(scope="module")
def gateway(store: EmbeddedStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store.add(io.BytesIO(b"the store's folder exists"))
    with running_gateway(str(store.root), tmp_path_factory.mktemp("gateway-log") / "gateway.log") as url:
        yield url


@pytest.mark.parametrize("version", [0, 1])
@pytest.mark.parametrize("size", [1, CHUNK_SIZE + 1, TWO_LEVELS])
def test_the_client_fetches_a_file_through_the_gateway(client, store, gateway, tmp_path, version, size):
    data = random.Random(f"{version}-{size}").randbytes(size)
    cid = store.add(io.BytesIO(data), cid_version=version)
    status, answer = client.fetch(gateway, cid, tmp_path / "out.bin")
    assert status == 0, answer
    assert (answer["status"], answer["bytes"]) == (200, size)
    assert (tmp_path / "out.bin").read_bytes() == data


@pytest.mark.parametrize("version", [0, 1])
@pytest.mark.parametrize("size", [0, CHUNK_SIZE - 1, TWO_LEVELS])
def test_the_ipld_libraries_rebuild_a_file_from_the_car(client, store, gateway, tmp_path, version, size):
    data = random.Random(f"car-{version}-{size}").randbytes(size)
    cid = store.add(io.BytesIO(data), cid_version=version)
    status, answer = client.fetch_car(gateway, cid, tmp_path / "out.bin")
    assert status == 0, answer
    assert answer["roots"] == [cid]
    assert answer["contentType"] == "application/vnd.ipld.car; version=1; order=dfs; dups=n"
    assert answer["blocks"] == answer["distinct"]
    assert (tmp_path / "out.bin").read_bytes() == data


@pytest.mark.parametrize("version", [0, 1])
def test_with_dups_the_car_repeats_blocks_the_libraries_still_accept(
    client, store, gateway, tmp_path, version
):
    data = b"\x05" * (4 * CHUNK_SIZE)  # one leaf, linked four times
    cid = store.add(io.BytesIO(data), cid_version=version)
    status, answer = client.fetch_car(gateway, cid, tmp_path / "out.bin", dups=True)
    assert status == 0, answer
    assert (answer["blocks"], answer["distinct"]) == (5, 2)
    assert answer["contentType"].endswith("dups=y")
    assert (tmp_path / "out.bin").read_bytes() == data


def test_the_client_fetches_one_raw_block(client, store, gateway, tmp_path):
    cid = store.add(io.BytesIO(random.Random(7).randbytes(3 * CHUNK_SIZE)))
    status, answer = client.fetch(gateway, cid, tmp_path / "root.bin", raw=True)
    assert status == 0, answer
    assert answer["contentType"] == "application/vnd.ipld.raw"
    assert (tmp_path / "root.bin").read_bytes() == store.get_block(cid)


def test_the_client_gets_no_file_when_a_block_is_corrupted(client, store, gateway, tmp_path):
    data = random.Random(9).randbytes(3 * CHUNK_SIZE)
    cid = store.add(io.BytesIO(data))
    leaf = CID.of_block(data[CHUNK_SIZE : 2 * CHUNK_SIZE], version=1, codec=RAW)
    path = next(p for p in (store.root / "blocks").rglob("*") if p.name == leaf.multihash.hex())
    path.write_bytes(bytes(CHUNK_SIZE))
    status, answer = client.fetch(gateway, cid, tmp_path / "out.bin")
    assert status != 0 or answer.get("status") != 200
    assert not (tmp_path / "out.bin").exists() or (tmp_path / "out.bin").read_bytes() != data


def test_the_ipld_libraries_refuse_a_car_cut_short(client, store, gateway, tmp_path):
    data = random.Random(10).randbytes(3 * CHUNK_SIZE)
    cid = store.add(io.BytesIO(data))
    leaf = CID.of_block(data[2 * CHUNK_SIZE :], version=1, codec=RAW)
    path = next(p for p in (store.root / "blocks").rglob("*") if p.name == leaf.multihash.hex())
    path.write_bytes(b"\1" * CHUNK_SIZE)
    status, _ = client.fetch_car(gateway, cid, tmp_path / "out.bin")
    assert status != 0
    assert not (tmp_path / "out.bin").exists()


def test_the_client_gets_no_file_the_store_lacks(client, gateway, tmp_path):
    absent = CID.of_block(b"never added", version=1, codec=RAW)
    status, answer = client.fetch(gateway, str(absent), tmp_path / "out.bin")
    assert status != 0 or answer.get("status") != 200
