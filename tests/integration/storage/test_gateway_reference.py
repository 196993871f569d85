"""The gateway against a real IPFS node as reference (js-ipfs, its own API): the same file gives the
same CIDs, every block the node holds is the block our gateway answers raw, and our CARs hold the
node's block set; with our gateway serving the embedded store, and serving the node itself
(KuboStore's block reads). And a real IPFS client fetches the file through our gateway over the node."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from datamarket.storage.car import CarReader
from datamarket.storage.cid import CID, RAW
from datamarket.storage.embedded import EmbeddedStore
from tests.gateway_server import ipfs_client, running_gateway
from tests.integration.storage.ipfs_node import SIZES, IpfsNode

pytestmark = pytest.mark.integration

CASES = [
    pytest.param(name, version, id=f"{name}-v{version}")
    for name in ("1B", "chunk+1", "10MiB", "two-levels")
    for version in (0, 1)
]


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedStore:
    store = EmbeddedStore(tmp_path_factory.mktemp("reference") / "store", sync=False)
    store.add(io.BytesIO(b"the store's folder exists"))
    return store


@pytest.fixture(scope="module")
def gateways(embedded: EmbeddedStore, ipfs_node: IpfsNode, tmp_path_factory) -> Iterator[dict[str, str]]:
    logs = tmp_path_factory.mktemp("gateway-logs")
    with (
        running_gateway(str(embedded.root), logs / "embedded.log") as over_embedded,
        running_gateway(ipfs_node.api_url, logs / "node.log") as over_node,
    ):
        yield {"embedded": over_embedded, "node": over_node}


def node_blocks(node: IpfsNode, cid: str) -> list[tuple[CID, bytes]]:
    """The DAG as the node exports it (``/api/v0/dag/export``)."""
    with requests.post(
        f"{node.api_url}/api/v0/dag/export", params={"arg": cid}, stream=True, timeout=120
    ) as r:
        r.raise_for_status()
        r.raw.decode_content = True
        return list(CarReader(r.raw))


def node_block(node: IpfsNode, cid: CID) -> bytes:
    answer = requests.post(f"{node.api_url}/api/v0/block/get", params={"arg": str(cid)}, timeout=60)
    answer.raise_for_status()
    return answer.content


def gateway_car(gateway: str, cid: str) -> list[tuple[CID, bytes]]:
    answer = requests.get(
        f"{gateway}/ipfs/{cid}", headers={"Accept": "application/vnd.ipld.car"}, timeout=120
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "application/vnd.ipld.car; version=1; order=dfs; dups=n"
    reader = CarReader(io.BytesIO(answer.content))
    assert [str(root) for root in reader.roots] == [cid]
    return list(reader)


@pytest.mark.parametrize(("name", "version"), CASES)
def test_the_gateway_answers_what_the_node_holds(ipfs_node, kubo, samples, embedded, gateways, name, version):
    path: Path = samples.path(name, variant="gateway")
    with path.open("rb") as file:
        cid = embedded.add(file, cid_version=version)
    with path.open("rb") as file:
        assert kubo.add(file, cid_version=version) == cid  # the node names the file as we do

    reference = node_blocks(ipfs_node, cid)
    assert str(reference[0][0]) == cid
    for where, gateway in gateways.items():
        ours = gateway_car(gateway, cid)
        assert set(ours) == set(reference), where
        assert len(ours) == len(set(ours))  # dups=n: each block once
        assert str(ours[0][0]) == cid
    for block_cid, block in reference:
        assert node_block(ipfs_node, block_cid) == block
        for where, gateway in gateways.items():
            answer = requests.get(f"{gateway}/ipfs/{block_cid}?format=raw", timeout=60)
            assert answer.status_code == 200, (where, answer.text)
            assert answer.content == block, where
            assert answer.headers["Content-Length"] == str(len(block))
    if SIZES[name] > 2 * 1024 * 1024:
        assert len(reference) > 2  # several blocks, not one


def test_a_block_the_node_lacks_is_404_at_once(gateways):
    absent = CID.of_block(b"no node holds this", version=1, codec=RAW)
    answer = requests.get(f"{gateways['node']}/ipfs/{absent}?format=raw", timeout=30)
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "content_not_found"
    assert "127.0.0.1" not in answer.text  # the node's URL is not the client's business


def test_a_real_client_fetches_through_the_gateway_over_the_node(kubo, samples, gateways, tmp_path):
    client = ipfs_client()
    path = samples.path("two-levels", variant="client")
    with path.open("rb") as file:
        cid = kubo.add(file, cid_version=1)
    status, answer = client.fetch(gateways["node"], cid, tmp_path / "out.bin")
    assert status == 0, answer
    assert (tmp_path / "out.bin").read_bytes() == path.read_bytes()
