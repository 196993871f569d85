"""The provider's rate limits: every endpoint counted per client address and class, 429
``rate_limited`` with Retry-After in the error shape the OpenAPI document gives, signed requests
counted per consumer only once the signature verified, X-Forwarded-For only from trusted proxies,
and the settings that set all of it."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from datamarket.auth import ComputeRequest, sign_compute_request
from datamarket.chain.devchain import dev_account
from datamarket.errors import ConfigError
from datamarket.jobs.spec import job_hash
from datamarket.ratelimit import parse_rule
from provider.app import create_app
from provider.ratelimit import CLASSES
from provider.settings import ProviderSettings
from tests.fakes import CHAIN_ID, MARKET
from tests.provider_api import validating
from tests.ratelimit_clock import FrozenClock, freeze
from tests.unit.provider.scenario import DATATOKEN, METRICS_TOKEN, Scenario, settings_for

FEES = "/api/v1/fees"
ACCESS = "/api/v1/access"
FEE_BODY = {"datatoken": DATATOKEN, "consumer": dev_account(3).address, "service_id": 0}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    return freeze(monkeypatch)


def client_with(scenario: Scenario, tmp_path: Path, **limits: Any) -> FlaskClient:
    """A client of a provider over the scenario's fakes, with ``limits`` over the generous ones."""
    folder = tmp_path / secrets.token_hex(4)
    folder.mkdir()
    app = create_app(
        settings_for(folder, **limits),
        chain=scenario.chain,
        store=scenario.store,
        nonces=scenario.nonces,
        keys=scenario.keys,
        clock=lambda: scenario.now[0],
    )
    return validating(app).test_client()


def assert_limited(response: Any) -> int:
    """The answer is 429 rate_limited in the error shape, with Retry-After whole seconds >= 1 (the
    validating client has checked it against the OpenAPI document); returns Retry-After."""
    assert response.status_code == 429, response.data
    error = response.json["error"]
    assert error["code"] == "rate_limited"
    assert re.fullmatch(r"[1-9][0-9]*", response.headers["Retry-After"])
    assert error["details"] == {"retry_after": int(response.headers["Retry-After"])}
    assert "Traceback" not in response.get_data(as_text=True)
    return int(response.headers["Retry-After"])


def test_a_fees_flood_gets_429_with_retry_after(
    scenario: Scenario, tmp_path: Path, clock: FrozenClock
) -> None:
    c = client_with(scenario, tmp_path, rate_limit_fees="3/second;5/minute")
    assert [c.post(FEES, json=FEE_BODY).status_code for _ in range(3)] == [200] * 3
    assert assert_limited(c.post(FEES, json=FEE_BODY)) == 1
    clock.advance(2.01)  # past the second window and the one after it
    assert [c.post(FEES, json=FEE_BODY).status_code for _ in range(2)] == [200] * 2
    assert assert_limited(c.post(FEES, json=FEE_BODY)) == 58  # the minute is full until it ends
    # The cheap reads are counted apart: the flood does not lock the client out of them.
    assert c.get("/api/v1/info").status_code == 200
    scraped = c.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).data.decode()
    assert 'datamarket_provider_errors_total{code="rate_limited",status="429"} 2.0' in scraped


def test_the_default_limits_hold_fees_tighter_than_reads(tmp_path: Path) -> None:
    s = ProviderSettings(
        rpc_url="http://127.0.0.1:1", market=MARKET, private_key=settings_for(tmp_path).private_key
    )

    def per_minute(rule: str) -> float:
        return min(item.amount * 60 / item.get_expiry() for item in parse_rule(rule))

    assert per_minute(s.rate_limit_fees) < per_minute(s.rate_limit_heavy) < per_minute(s.rate_limit_read)
    assert per_minute(s.rate_limit_read) <= per_minute(s.rate_limit_health)
    assert s.rate_limit_url == "memory://" and s.trusted_proxies == 0


def paths(scenario: Scenario) -> list[tuple[str, str, str]]:
    """(method, path, endpoint) of every route, with placeholder path arguments."""
    routes = []
    for rule in scenario.app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(
            r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: "0" * 32 if m[1] == "job_id" else DATATOKEN, rule.rule
        )
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((method, path, rule.endpoint))
    return routes


def test_every_endpoint_is_limited(scenario: Scenario, tmp_path: Path, clock: FrozenClock) -> None:
    """With one request an hour per class, the second request to any endpoint is refused (the first
    may be too, where another endpoint of its class came first), an unknown path too."""
    everything = {f"rate_limit_{name}": "1/hour" for name in ("health", "read", "fees", "heavy")}
    c = client_with(scenario, tmp_path, **everything)
    routes = paths(scenario)
    assert {endpoint for _, _, endpoint in routes} >= set(CLASSES), "CLASSES names an endpoint that is not"
    assert {path for _, path, _ in routes} >= {"/healthz", FEES, ACCESS, "/api/v1/compute"}
    for method, path, _ in [*routes, ("GET", "/no/such/path", "")]:
        c.open(path, method=method, json={})
        assert_limited(c.open(path, method=method, json={}))


def test_each_class_counts_apart(scenario: Scenario, tmp_path: Path, clock: FrozenClock) -> None:
    c = client_with(scenario, tmp_path, rate_limit_read="2/hour", rate_limit_fees="1/hour")
    assert c.get("/api/v1/info").status_code == 200
    assert c.get("/api/v1/nonce", query_string={"address": dev_account(3).address}).status_code == 200
    assert_limited(c.get("/openapi.json"))
    assert c.get("/healthz").status_code == 200  # probes have their own budget
    assert c.post(FEES, json=FEE_BODY).status_code == 200
    assert_limited(c.post(FEES, json=FEE_BODY))


# --------------------------------------------------------------------------- per consumer


def signed_access(scenario: Scenario, *, signer=None, claimed: str | None = None) -> dict:
    """A signed access request naming an order that does not exist (refused after the signature,
    404): claiming ``claimed`` as the consumer, signed by ``signer``."""
    scenario.now[0] += 0.001  # a fresh nonce (milliseconds) each time
    req = scenario.request("0x" + secrets.token_hex(32), consumer=claimed or scenario.consumer.address)
    return scenario.body(req, signer=signer or scenario.consumer)


def test_a_forged_claim_does_not_spend_the_victims_budget(
    scenario: Scenario, tmp_path: Path, clock: FrozenClock
) -> None:
    victim, attacker = scenario.consumer, dev_account(6)
    c = client_with(scenario, tmp_path, rate_limit_consumer="2/hour")
    for _ in range(10):  # the attacker names the victim but cannot sign as the victim
        forged = c.post(ACCESS, json=signed_access(scenario, signer=attacker, claimed=victim.address))
        assert forged.json["error"]["code"] == "invalid_signature"
    assert [c.post(ACCESS, json=signed_access(scenario)).json["error"]["code"] for _ in range(2)] == [
        "order_not_found"
    ] * 2
    refused = c.post(ACCESS, json=signed_access(scenario))
    assert_limited(refused)
    assert "consumer" in refused.json["error"]["message"]
    # Another consumer, from the same address, has a budget of its own.
    other = signed_access(scenario, signer=attacker, claimed=attacker.address)
    assert c.post(ACCESS, json=other).json["error"]["code"] == "order_not_found"


def test_a_consumer_refused_by_its_budget_keeps_its_nonce(
    scenario: Scenario, tmp_path: Path, clock: FrozenClock
) -> None:
    c = client_with(scenario, tmp_path, rate_limit_consumer="1/hour")
    c.post(ACCESS, json=signed_access(scenario))
    before = scenario.last_nonce()
    assert_limited(c.post(ACCESS, json=signed_access(scenario)))
    assert scenario.last_nonce() == before


def compute_body(scenario: Scenario, signer=None) -> dict:
    scenario.now[0] += 0.001
    job = {"algorithm": "train_tabular", "params": {}, "epsilon": None, "environment": "cpu"}
    req = ComputeRequest(
        datatoken=DATATOKEN,
        consumer=scenario.consumer.address,
        service_id=1,
        order_tx="0x" + secrets.token_hex(32),
        order_id=0,
        consumer_key="0x" + "11" * 32,
        job_hash=job_hash(job),
        nonce=int(scenario.now[0] * 1000),
    )
    signature = sign_compute_request(req, (signer or scenario.consumer).key, CHAIN_ID, MARKET)
    return {"request": req.to_json(), "signature": "0x" + signature.hex(), "job": job}


def test_compute_submissions_count_per_consumer_after_the_signature(
    scenario: Scenario, tmp_path: Path, clock: FrozenClock
) -> None:
    c = client_with(scenario, tmp_path, rate_limit_consumer="2/hour", services=("download", "compute"))
    for _ in range(5):
        forged = c.post("/api/v1/compute", json=compute_body(scenario, signer=dev_account(6)))
        assert forged.json["error"]["code"] == "invalid_signature"
    codes = [c.post("/api/v1/compute", json=compute_body(scenario)).json["error"]["code"] for _ in range(2)]
    assert "rate_limited" not in codes
    assert_limited(c.post("/api/v1/compute", json=compute_body(scenario)))


# ------------------------------------------------------------------------------ proxies


def from_peer(c: FlaskClient, peer: str, forwarded: str | None = None) -> Any:
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    return c.post(FEES, json=FEE_BODY, headers=headers, environ_base={"REMOTE_ADDR": peer})


def test_without_trusted_proxies_x_forwarded_for_buys_nothing(
    scenario: Scenario, tmp_path: Path, clock: FrozenClock
) -> None:
    c = client_with(scenario, tmp_path, rate_limit_fees="2/hour")
    assert from_peer(c, "198.51.100.7", "1.1.1.1").status_code == 200
    assert from_peer(c, "198.51.100.7", "2.2.2.2").status_code == 200
    assert_limited(from_peer(c, "198.51.100.7", "3.3.3.3"))
    assert from_peer(c, "198.51.100.8").status_code == 200  # another peer, its own budget


def test_behind_one_trusted_proxy_the_client_it_saw_counts(
    scenario: Scenario, tmp_path: Path, clock: FrozenClock
) -> None:
    c = client_with(scenario, tmp_path, rate_limit_fees="1/hour", trusted_proxies=1)
    proxy = "10.0.0.2"
    assert from_peer(c, proxy, "203.0.113.1").status_code == 200
    assert from_peer(c, proxy, "203.0.113.2").status_code == 200  # another client behind the proxy
    # What the client wrote to the left of the proxy's entry changes nothing.
    assert_limited(from_peer(c, proxy, "6.6.6.6, 203.0.113.1"))
    assert_limited(from_peer(c, proxy, "7.7.7.7, 203.0.113.1"))
    # No header from the proxy: counted under the proxy itself.
    assert from_peer(c, proxy).status_code == 200
    assert_limited(from_peer(c, proxy))


# ----------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("rate_limit_fees", "lots-of-requests"),
        ("rate_limit_read", "0/second"),
        ("rate_limit_consumer", "5/second;5/minute;5/hour;5/day;5/month"),
        ("rate_limit_url", "memcached://127.0.0.1"),
        ("trusted_proxies", "-7"),
        ("trusted_proxies", "99"),
    ],
)
def test_bad_rate_limit_settings_are_named_not_echoed(name: str, value: str) -> None:
    env = {
        "DATAMARKET_PROVIDER_RPC_URL": "http://127.0.0.1:8545",
        "DATAMARKET_PROVIDER_MARKET": MARKET,
        "DATAMARKET_PROVIDER_PRIVATE_KEY": dev_account(2).key.hex(),
        f"DATAMARKET_PROVIDER_{name.upper()}": value,
    }
    with pytest.raises(ConfigError) as refused:
        ProviderSettings.load(env=env)
    assert name in refused.value.message and value not in refused.value.message


def test_the_rate_limit_store_password_is_never_shown(tmp_path: Path) -> None:
    s = settings_for(tmp_path, rate_limit_url="redis://:hunter2-secret@127.0.0.1:6379/3")
    assert "hunter2" not in repr(s)
