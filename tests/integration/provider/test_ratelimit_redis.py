"""Rate limits shared in a real Redis (127.0.0.1:6379; skipped when unreachable, except in CI): two
provider apps, as two workers or two machines of one provider, add to the same counts, per client
address and per consumer; and a Redis that does not answer leaves the limits on, counted per
process. Each test counts under an address and a consumer of its own, so that runs do not meet in
Redis."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

import pytest
from eth_account import Account

from datamarket.chain.devchain import DevChain
from tests.conftest import World
from tests.integration.provider.world import ProviderWorld, make_provider_world
from tests.redis_service import require_redis

pytestmark = pytest.mark.integration

REDIS_URL = os.environ.get("DATAMARKET_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
FEES = "/api/v1/fees"
ACCESS = "/api/v1/access"


@pytest.fixture
def redis_url() -> str:
    return require_redis(REDIS_URL)


def new_client_address() -> str:
    return "10." + ".".join(str(b) for b in secrets.token_bytes(3))


def two_workers(anvil: DevChain, world: World, tmp_path: Path, **limits: str) -> list[ProviderWorld]:
    return [make_provider_world(anvil, world, tmp_path / name, **limits) for name in ("one", "two")]


def test_two_apps_share_one_count_per_client_address(
    anvil: DevChain, world: World, tmp_path: Path, redis_url: str
) -> None:
    one, two = two_workers(anvil, world, tmp_path, rate_limit_url=redis_url, rate_limit_fees="3/minute")
    ds = one.publish()
    body = {"datatoken": ds.datatoken, "consumer": one.consumer.address, "service_id": 0}
    peer = {"REMOTE_ADDR": new_client_address()}
    answers = [pw.client.post(FEES, json=body, environ_base=peer) for pw in (one, two, one, two, one)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert int(answers[3].headers["Retry-After"]) >= 1
    assert answers[3].json["error"]["code"] == "rate_limited"
    # Another client address still has its whole budget, on either app.
    other = {"REMOTE_ADDR": new_client_address()}
    assert two.client.post(FEES, json=body, environ_base=other).status_code == 200


def test_two_apps_share_one_count_per_consumer(
    anvil: DevChain, world: World, tmp_path: Path, redis_url: str
) -> None:
    one, two = two_workers(anvil, world, tmp_path, rate_limit_url=redis_url, rate_limit_consumer="2/minute")
    ds = one.publish()
    consumer = Account.create()

    def signed() -> dict:
        # An order that does not exist: refused (404) after the signature verified and was counted.
        req = one.request(ds, "0x" + secrets.token_hex(32), consumer=consumer, order_id=1)
        return one.body(req, signer=consumer)

    codes = [pw.client.post(ACCESS, json=signed()).json["error"]["code"] for pw in (one, two, one)]
    assert codes == ["order_not_found", "order_not_found", "rate_limited"]


def test_an_unreachable_redis_keeps_the_limits_per_process(
    anvil: DevChain, world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing listens on port 1: the app answers, limited by its own counts, and the log names the
    failure without the URL's password."""
    down = "redis://:hunter2-secret@127.0.0.1:1/0"
    pw = make_provider_world(anvil, world, tmp_path, rate_limit_url=down, rate_limit_health="2/minute")
    with caplog.at_level(logging.WARNING, logger="datamarket.ratelimit"):
        assert [pw.client.get("/healthz").status_code for _ in range(3)] == [200, 200, 429]
    assert "shared store did not answer (ConnectionError)" in caplog.text
    assert "hunter2" not in caplog.text
