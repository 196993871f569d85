"""The embedded store and KuboStore against a real IPFS node: the same CIDs, and data moving
between them through CAR files unchanged."""

from __future__ import annotations

import hashlib
import io
import tracemalloc
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from datamarket.storage import dagpb, open_store
from datamarket.storage.base import ContentCorrupted, ContentNotFound, cat_bytes
from datamarket.storage.cid import CHUNK_SIZE, CID
from datamarket.storage.cli import store as store_command
from datamarket.storage.embedded import EmbeddedStore
from datamarket.storage.kubo import KuboStore
from datamarket.storage.unixfs import import_file
from tests.integration.storage.ipfs_node import SIZES, IpfsNode

pytestmark = pytest.mark.integration

CASES = [pytest.param(name, version, id=f"{name}-v{version}") for name in SIZES for version in (0, 1)]


def sha256_of(pieces) -> str:
    digest = hashlib.sha256()
    for piece in pieces:
        digest.update(piece)
    return digest.hexdigest()


def node_add(node: IpfsNode, path: Path, version: int, **options: str) -> str:
    """``ipfs add`` through the node's HTTP API directly, independent of KuboStore."""
    params = {"cid-version": str(version), **options}
    with path.open("rb") as file:
        files = {"file": (path.name, file, "application/octet-stream")}
        response = requests.post(f"{node.api_url}/api/v0/add", params=params, files=files, timeout=120)
    response.raise_for_status()
    return str(CID.parse(response.json()["Hash"]))


def node_cat(node: IpfsNode, cid: str) -> str:
    """sha256 of what the node's /api/v0/cat returns."""
    with requests.post(
        f"{node.api_url}/api/v0/cat", params={"arg": cid}, stream=True, timeout=60
    ) as response:
        response.raise_for_status()
        return sha256_of(response.iter_content(1 << 20))


@pytest.mark.parametrize(("name", "version"), CASES)
def test_embedded_node_and_kubo_store_give_the_same_cid(ipfs_node, kubo, samples, tmp_path, name, version):
    path = samples.path(name)
    with path.open("rb") as file:
        embedded_cid = EmbeddedStore(tmp_path / "store", sync=False).add(file, cid_version=version)
    assert node_add(ipfs_node, path, version, **{"only-hash": "true"}) == embedded_cid
    with path.open("rb") as file:
        assert kubo.add(file, cid_version=version) == embedded_cid
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert sha256_of(kubo.cat(embedded_cid)) == expected
    assert kubo.pinned(embedded_cid)


@pytest.mark.parametrize(("name", "version"), CASES)
def test_embedded_to_node_through_a_car(ipfs_node, kubo, samples, tmp_path, name, version):
    path = samples.path(name, variant="embedded-to-node")
    embedded = EmbeddedStore(tmp_path / "store", sync=False)
    with path.open("rb") as file:
        cid = embedded.add(file, cid_version=version)
    if SIZES[name] > 0:  # the empty file's block is everywhere
        assert not kubo.has(cid), "the node must not hold the content before the transfer"
    car_path = tmp_path / "dag.car"
    with car_path.open("wb") as out:
        embedded.export_car(cid, out)
    with car_path.open("rb") as car_file:
        assert kubo.import_car(car_file) == [cid]
    assert kubo.has(cid) and kubo.pinned(cid)
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert node_cat(ipfs_node, cid) == expected
    assert sha256_of(kubo.cat(cid)) == expected


@pytest.mark.parametrize(("name", "version"), CASES)
def test_node_to_embedded_through_a_car(ipfs_node, kubo, samples, tmp_path, name, version):
    path = samples.path(name, variant="node-to-embedded")
    with path.open("rb") as file:
        cid = kubo.add(file, cid_version=version)
    car_path = tmp_path / "dag.car"
    with car_path.open("wb") as out:
        kubo.export_car(cid, out)
    embedded = EmbeddedStore(tmp_path / "store", sync=False)
    with car_path.open("rb") as car_file:
        assert embedded.import_car(car_file) == [cid]
    assert embedded.pins() == [cid]
    assert sha256_of(embedded.cat(cid)) == hashlib.sha256(path.read_bytes()).hexdigest()
    # Both sides write the same CAR, byte for byte.
    ours = io.BytesIO()
    embedded.export_car(cid, ours)
    assert hashlib.sha256(ours.getvalue()).hexdigest() == hashlib.sha256(car_path.read_bytes()).hexdigest()


def test_only_hash_stores_nothing_on_the_node(kubo, samples):
    path = samples.path("chunk+1", variant="only-hash")
    with path.open("rb") as file:
        cid = kubo.add(file, only_hash=True)
    assert not kubo.has(cid)


def test_pin_and_unpin(kubo, samples):
    with samples.path("1B", variant="pins").open("rb") as file:
        cid = kubo.add(file)
    assert kubo.pinned(cid)
    kubo.unpin(cid)
    assert not kubo.pinned(cid) and kubo.has(cid)
    kubo.unpin(cid)  # idempotent, as in the embedded store
    kubo.pin(cid)
    assert kubo.pinned(cid)


def test_missing_content(ipfs_node):
    missing = str(CID.of_block(b"never added anywhere", version=1, codec=0x55))
    with KuboStore(ipfs_node.api_url, timeout=1.5, lookup_timeout=0.5) as store:
        assert not store.has(missing)
        with pytest.raises(ContentNotFound):
            cat_bytes(store, missing)
        with pytest.raises(ContentNotFound):
            store.pin(missing)


@pytest.mark.parametrize("version", [0, 1])
def test_a_block_corrupted_in_the_node_is_detected(ipfs_node, kubo, samples, version):
    path = samples.path("chunk+1", variant=f"corrupt-{version}")
    with path.open("rb") as file:
        cid = kubo.add(file, cid_version=version)
    root = requests.post(f"{ipfs_node.api_url}/api/v0/block/get", params={"arg": cid}, timeout=10).content
    first_leaf = dagpb.decode_node(root).links[0].cid
    block_file = ipfs_node.block_file(first_leaf.multihash)
    damaged = bytearray(block_file.read_bytes())
    damaged[CHUNK_SIZE // 2] ^= 0x01  # file data, in either leaf format
    block_file.write_bytes(bytes(damaged))
    assert node_cat(ipfs_node, cid) != hashlib.sha256(path.read_bytes()).hexdigest()  # the node serves it
    with pytest.raises(ContentCorrupted):
        cat_bytes(kubo, cid)
    with pytest.raises(ContentCorrupted):
        kubo.export_car(cid, io.BytesIO())


def test_adds_stream_in_constant_memory(kubo, samples, tmp_path):
    path = samples.path("two-levels")
    limit = 8 * 1024 * 1024  # the file is ~45 MiB
    for store in (kubo, EmbeddedStore(tmp_path / "store", sync=False)):
        tracemalloc.start()
        try:
            with path.open("rb") as file:
                store.add(file, cid_version=1)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < limit, (
            f"{store!r}: peak {peak} bytes of Python memory for a {SIZES['two-levels']}-byte add"
        )


def test_open_store_reaches_the_node(ipfs_node):
    store = open_store(ipfs_node.api_url)
    assert isinstance(store, KuboStore)
    assert store.version()


def test_a_corrupted_car_never_reaches_the_node(kubo, samples, tmp_path):
    embedded = EmbeddedStore(tmp_path / "store", sync=False)
    with samples.path("chunk+1", variant="bad-car").open("rb") as file:
        cid = embedded.add(file)
    car_bytes = io.BytesIO()
    embedded.export_car(cid, car_bytes)
    damaged = bytearray(car_bytes.getvalue())
    damaged[-1000] ^= 0x01  # inside the last leaf
    with pytest.raises(ContentCorrupted):
        kubo.import_car(io.BytesIO(bytes(damaged)))
    assert not kubo.pinned(cid)


def test_the_store_command_against_the_node(ipfs_node, samples):
    path = samples.path("chunk+1", variant="cli")
    runner = CliRunner()
    node = ["--store", ipfs_node.api_url]
    added = runner.invoke(store_command, [*node, "add", "--cid-version", "0", str(path)])
    assert added.exit_code == 0, added.output
    cid = added.output.strip()
    assert cid == str(import_file(io.BytesIO(path.read_bytes()), cid_version=0).cid)
    shown = runner.invoke(store_command, [*node, "cat", cid])
    assert shown.exit_code == 0 and shown.stdout_bytes == path.read_bytes()
