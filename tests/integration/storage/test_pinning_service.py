"""`datamarket pin` against a pinning service on a loopback port that fetches the content from the real
IPFS node: encrypted content added to the node (by hand, and by publishing a dataset on anvil) is pinned
through the CLI, waited for, listed and removed; the service's answers are checked against the spec."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from datamarket.chain.devchain import DevChain
from datamarket.cli import main
from datamarket.config import Secret
from datamarket.crypto import keys, stream
from datamarket.sdk import publish
from datamarket.storage.base import add_bytes, cat_bytes
from datamarket.storage.cid import raw_leaf_cid
from datamarket.storage.kubo import KuboStore
from datamarket.storage.pinning import PinningService, origins
from tests.conftest import World
from tests.integration.storage.ipfs_node import IpfsNode
from tests.pinning_service import PinningStandIn
from tests.pinning_spec import CheckingAdapter, check_answer

pytestmark = pytest.mark.integration

TOKEN = "integration-5ecret-Pinning-Token"


@pytest.fixture
def service(ipfs_node: IpfsNode, tmp_path: Path) -> Iterator[tuple[PinningStandIn, str]]:
    """The stand-in service, fetching through the test IPFS node (its view of the network)."""
    with KuboStore(ipfs_node.api_url, timeout=30, lookup_timeout=0.5) as network:
        stand_in = PinningStandIn([TOKEN], tmp_path / "service", network)
        with stand_in.serving() as url:
            yield stand_in, url


@pytest.fixture
def cli_env(service, ipfs_node: IpfsNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list:
    """The CLI's settings; every session it opens checks the service's answers against the spec
    (the list returned holds their adapters)."""
    _, url = service
    adapters: list[CheckingAdapter] = []
    real_session = requests.Session

    def session() -> requests.Session:
        made = real_session()
        adapters.append(CheckingAdapter())
        made.mount(url, adapters[-1])
        return made

    monkeypatch.setattr(requests, "Session", session)
    for name in ("DATAMARKET_CONFIG", "DATAMARKET_RPC_URL", "DATAMARKET_MARKET", "DATAMARKET_PRIVATE_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATAMARKET_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATAMARKET_STORE", ipfs_node.api_url)  # the publisher's node
    monkeypatch.setenv("DATAMARKET_PIN_SERVICE_URL", url)
    monkeypatch.setenv("DATAMARKET_PIN_SERVICE_TOKEN", TOKEN)
    return adapters


def cli(*args: str, code: int = 0) -> dict:
    result = CliRunner().invoke(main, ["pin", *args, "--json"])
    assert result.exit_code == code, result.output
    assert TOKEN not in result.output + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def checked_client(url: str) -> tuple[PinningService, CheckingAdapter]:
    """A client whose every answer is checked against the spec's shapes before it reads it."""
    adapter = CheckingAdapter()
    session = requests.sessions.Session()
    session.mount(url, adapter)
    return PinningService(url, Secret(TOKEN), session=session), adapter


def test_encrypted_content_is_pinned_listed_and_removed_through_the_cli(
    service, cli_env, kubo: KuboStore
) -> None:
    stand_in, url = service
    ciphertext = stream.encrypt_bytes(b"id,income\n" + b"7,52000\n" * 40_000, stream.new_content_key())
    cid = add_bytes(kubo, ciphertext)

    added = cli("add", cid, "--name", "survey.csv.enc")
    [pin] = added["pins"]
    assert (pin["status"], pin["pin"]["cid"], pin["pin"]["name"]) == ("pinned", cid, "survey.csv.enc")
    peer, addresses = kubo.identity()
    assert added["origins"] == list(origins(peer, addresses, local=True))  # the node's, as it announces them
    assert stand_in.pins[pin["requestid"]].history == ["queued", "pinning", "pinned"]
    assert cat_bytes(stand_in.store, cid) == ciphertext  # the service holds every block, each checked

    listed = cli("ls")
    assert [r["requestid"] for r in listed["results"]] == [pin["requestid"]]
    client, adapter = checked_client(url)
    assert client.get(pin["requestid"]).status == "pinned"
    assert client.list(cids=[cid]).count == 1
    assert adapter.checked == 2

    assert cli("rm", pin["requestid"]) == {"requestid": pin["requestid"], "removed": True}
    assert cli("status", pin["requestid"], code=1)["error"]["code"] == "pin_not_found"
    assert cid not in stand_in.store.pins()
    assert sum(a.checked for a in cli_env) >= 6  # add, its waits, ls, rm, status: each answer checked


def test_a_dataset_is_pinned_by_its_datatoken(
    service, cli_env, kubo: KuboStore, anvil: DevChain, world: World, tmp_path: Path, monkeypatch
) -> None:
    stand_in, _ = service
    monkeypatch.setenv("DATAMARKET_RPC_URL", anvil.url)
    monkeypatch.setenv("DATAMARKET_MARKET", world.market.address)
    provider_key = X25519PrivateKey.generate()
    info = {"address": world.accounts.provider.address, "encryption_keys": [
        {"public_key": base64.urlsafe_b64encode(keys.public_bytes(provider_key.public_key())).decode()}
    ]}  # fmt: skip
    data = tmp_path / "patients.csv"
    data.write_text("age,label\n" + "".join(f"{20 + i % 50},{i % 2}\n" for i in range(3000)))
    published = publish.publish_file(
        publish.PublishRequest(path=data, name="Patients", price=10**18, payment_token=world.usd),
        market=world.as_(world.accounts.publisher), store=kubo, provider_info=info,
        provider_url="http://127.0.0.1:8030",
    )  # fmt: skip

    added = cli("add", published.dataset, "--timeout", "120")
    by_part = {p["pin"]["meta"]["datamarket_part"]: p for p in added["pins"]}
    assert {part: p["pin"]["cid"] for part, p in by_part.items()} == {
        "data": published.data_cid, "metadata": published.metadata_cid,
    }  # fmt: skip
    assert {p["status"] for p in added["pins"]} == {"pinned"}
    assert {p["pin"]["meta"]["datamarket_dataset"] for p in added["pins"]} == {published.dataset}
    assert by_part["data"]["pin"]["name"] == "Patients"
    assert by_part["metadata"]["pin"]["name"] == "Patients (metadata)"
    assert cat_bytes(stand_in.store, published.data_cid) == cat_bytes(kubo, published.data_cid)
    assert stand_in.store.has(published.metadata_cid)


def test_content_no_node_has_fails_and_unknown_tokens_get_the_spec_failure(service, cli_env) -> None:
    _, url = service
    missing = raw_leaf_cid(os.urandom(64))  # content no node has: the service looks, then gives up
    error = cli("add", missing, code=1)["error"]
    assert error["code"] == "pin_failed" and "not on the IPFS network" in error["message"]
    answer = requests.get(url + "/pins", headers={"Authorization": "Bearer not-the-token"}, timeout=10)
    assert answer.status_code == 401
    check_answer("GET", "/pins", 401, answer.headers["Content-Type"], answer.content)
    answer = requests.post(url + "/pins", json={"cid": "nope"}, headers={"Authorization": f"Bearer {TOKEN}"},
                           timeout=10)  # fmt: skip
    assert answer.status_code == 400
    check_answer("POST", "/pins", 400, answer.headers["Content-Type"], answer.content)
