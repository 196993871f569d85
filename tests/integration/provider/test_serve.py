"""``provider serve`` for real: gunicorn workers on a loopback port, reached over HTTP by the SDK's
provider client, through a whole publish -> order -> key release -> decrypt round trip."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from datamarket.chain.devchain import DevChain
from datamarket.sdk.provider_client import ProviderClient, ProviderRefused
from datamarket.storage.embedded import EmbeddedStore
from tests.conftest import World
from tests.integration.provider.serving import METRICS_TOKEN, serve_provider

SCRAPER = {"Authorization": f"Bearer {METRICS_TOKEN}"}

pytestmark = pytest.mark.integration


@pytest.fixture
def served(anvil: DevChain, world: World, tmp_path: Path) -> Iterator[str]:
    with serve_provider(anvil, world, tmp_path, world.accounts.provider, store=tmp_path / "store") as url:
        yield url


def test_served_provider_round_trip_with_the_sdk(served: str, world: World, tmp_path: Path) -> None:
    from datamarket.sdk import download, publish

    client = ProviderClient(served)
    info = client.info()
    assert info["address"] == world.accounts.provider.address
    store = EmbeddedStore(tmp_path / "store")
    data = tmp_path / "data.csv"
    data.write_text("x,y\n" + "".join(f"{i},{i * i}\n" for i in range(500)))
    result = publish.publish_file(
        publish.PublishRequest(path=data, name="served", price=10**18, payment_token=world.usd),
        market=world.as_(world.accounts.publisher),
        store=store,
        provider_info=info,
        provider_url=served,
    )
    out = tmp_path / "out.csv"
    consumer = world.as_(world.accounts.consumer)
    done = download.download(consumer, store, client, result.datatoken, out)
    assert out.read_bytes() == data.read_bytes()
    assert done.sha256 == hashlib.sha256(data.read_bytes()).hexdigest()
    assert client.last_nonce(world.accounts.consumer.address) > 0
    # The same order again from a second request: a new nonce, another one-time key, same content key.
    again = download.request_key(consumer, client, result.datatoken, done.order_tx, done.order_id)
    assert len(again) == 32
    with pytest.raises(ProviderRefused) as caught:
        client.access({"datatoken": result.datatoken}, b"\x00" * 65)
    assert (caught.value.status, caught.value.code) == (400, "invalid_request")
    metrics = requests.Session()
    metrics.trust_env = False
    scraped = metrics.get(served + "/metrics", headers=SCRAPER, timeout=5)
    assert "datamarket_provider_access_granted_total" in scraped.text
    # Without the token, nothing: the counts say how much business the provider does.
    refused = metrics.get(served + "/metrics", timeout=5)
    assert (refused.status_code, refused.json()["error"]["code"]) == (401, "unauthorized")


def test_metrics_add_up_every_worker(served: str) -> None:
    """Requests spread over both gunicorn workers; every scrape, whichever worker answers it,
    counts all of them."""
    from concurrent.futures import ThreadPoolExecutor

    from prometheus_client.parser import text_string_to_metric_families

    def get(path: str) -> requests.Response:
        with requests.Session() as session:
            session.trust_env = False
            return session.get(served + path, headers=SCRAPER, timeout=10)

    def answered(text: str) -> float:
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "datamarket_provider_requests_total"
            and sample.labels["endpoint"] == "/api/v1/info"
        )

    with ThreadPoolExecutor(8) as pool:
        assert all(r.ok for r in pool.map(lambda _: get("/api/v1/info"), range(60)))
    assert [answered(get("/metrics").text) for _ in range(6)] == [60.0] * 6
