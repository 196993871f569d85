"""The app's edges: info, nonce, health, metrics, the OpenAPI document, routing errors, and the
catch-all handler that shows nothing."""

from __future__ import annotations

import json

import pytest

from datamarket.crypto.keys import b64url_decode
from provider.app import create_app
from tests.fakes import CHAIN_ID, MARKET
from tests.provider_api import SPEC, ValidatingClient, check_response, internal_errors
from tests.unit.provider.scenario import METRICS_TOKEN, Scenario, settings_for


def test_info(scenario: Scenario) -> None:
    info = scenario.client.get("/api/v1/info").json
    key = scenario.keys.public_keys()[0]
    assert info["address"] == scenario.provider.address
    assert (info["chain_id"], info["market"]) == (CHAIN_ID, MARKET)
    assert info["encryption_keys"] == [
        {"key_id": key.key_id, "scheme": "X25519", "public_key": info["encryption_keys"][0]["public_key"]}
    ]
    assert b64url_decode(info["encryption_keys"][0]["public_key"]) == key.public_key
    assert info["services"] == [
        {
            "id": 0,
            "type": "download",
            "fee_token": "0x0000000000000000000000000000000000000000",
            "fee_amount": "0",
        }
    ]
    assert "compute_environments" not in info  # only a provider that offers compute lists them


def test_healthz(scenario: Scenario) -> None:
    c = scenario.client
    assert c.get("/healthz").json == {"status": "ok", "checks": {"chain": "ok", "nonces": "ok", "keys": "ok"}}
    scenario.chain.node_id = 1
    response = c.get("/healthz")
    assert response.status_code == 503
    assert response.json["checks"]["chain"] == "wrong_chain"
    scenario.chain.down = True
    assert c.get("/healthz").json["checks"]["chain"] == "unavailable"


def test_healthz_without_keys(tmp_path, scenario: Scenario) -> None:
    from datamarket.crypto.keys import KeyStore

    app = create_app(
        settings_for(tmp_path),
        chain=scenario.chain,
        store=scenario.store,
        nonces=scenario.nonces,
        keys=KeyStore(tmp_path / "empty"),
    )
    app.test_client_class = ValidatingClient
    response = app.test_client().get("/healthz")
    assert (response.status_code, response.json["checks"]["keys"]) == (503, "missing")


SCRAPER = {"Authorization": f"Bearer {METRICS_TOKEN}"}


def test_metrics_count_requests_and_error_codes(scenario: Scenario) -> None:
    c = scenario.client
    c.get("/api/v1/info")
    c.post("/api/v1/access", data=b"{")
    text = c.get("/metrics", headers=SCRAPER).data.decode()
    assert 'datamarket_provider_requests_total{endpoint="/api/v1/info",method="GET",status="200"} 1.0' in text
    assert 'datamarket_provider_errors_total{code="invalid_json",status="400"} 1.0' in text


def test_each_app_has_its_own_registry(tmp_path, scenario: Scenario) -> None:
    other = create_app(
        settings_for(tmp_path),
        chain=scenario.chain,
        store=scenario.store,
        nonces=scenario.nonces,
        keys=scenario.keys,
    )
    scenario.client.get("/api/v1/info")
    assert b"/api/v1/info" not in other.test_client().get("/metrics", headers=SCRAPER).data


def test_metrics_are_for_the_token_holder_only(tmp_path, scenario: Scenario) -> None:
    c = scenario.client
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token-of-some-length"},
        {"Authorization": METRICS_TOKEN},
    ):
        response = c.get("/metrics", headers=headers)
        assert (response.status_code, response.json["error"]["code"]) == (401, "unauthorized")
        assert b"datamarket_provider" not in response.data
    off = create_app(settings_for(tmp_path, metrics_token=None), chain=scenario.chain, store=scenario.store,
                     nonces=scenario.nonces, keys=scenario.keys)  # fmt: skip
    off.test_client_class = ValidatingClient
    response = off.test_client().get("/metrics", headers=SCRAPER)
    assert (response.status_code, response.json["error"]["code"]) == (404, "metrics_off")


def test_openapi_document_is_served_and_is_openapi_3_1(scenario: Scenario) -> None:
    response = scenario.client.get("/openapi.json")
    assert response.json == SPEC
    assert SPEC["openapi"] == "3.1.0"
    for path in ("/api/v1/info", "/api/v1/nonce", "/api/v1/access", "/api/v1/fees", "/healthz", "/metrics"):
        assert path in SPEC["paths"]


def test_routing_errors_use_the_error_shape(scenario: Scenario) -> None:
    c = scenario.client
    response = c.get("/nope")
    assert (response.status_code, response.json["error"]["code"]) == (404, "not_found")
    for method in ("GET", "PUT", "TRACE", "OPTIONS"):
        response = c.open("/api/v1/access", method=method)
        assert (response.status_code, response.json["error"]["code"]) == (405, "method_not_allowed")
        assert response.headers["Allow"] == "POST" and response.mimetype == "application/json"
    response = c.options("/api/v1/info")
    assert response.status_code == 405 and set(response.headers["Allow"].split(", ")) == {"GET", "HEAD"}


def test_unexpected_errors_are_500_without_detail(tmp_path, scenario: Scenario) -> None:
    class Broken(type(scenario.chain)):
        def latest_block(self):
            raise RuntimeError("secret /etc/provider/key.hex 0xdeadbeef")

    chain = Broken()
    chain.datasets, chain.pointers = scenario.chain.datasets, scenario.chain.pointers
    app = create_app(
        settings_for(tmp_path),
        chain=chain,
        store=scenario.store,
        nonces=scenario.nonces,
        keys=scenario.keys,
        clock=lambda: scenario.now[0],
    )
    app.test_client_class = ValidatingClient
    response = app.test_client().post(
        "/api/v1/access", json=scenario.body(scenario.request("0x" + "11" * 32))
    )
    assert response.status_code == 500
    assert response.json == {"error": {"code": "internal_error", "message": "internal error", "details": {}}}
    assert internal_errors(app) == 1


def test_the_spec_checker_catches_a_wrong_body() -> None:
    with pytest.raises(AssertionError, match="does not match"):
        check_response("/api/v1/nonce", "GET", 200, "application/json", json.dumps({"nonce": -1}).encode())
    with pytest.raises(AssertionError, match="not documented"):
        check_response("/api/v1/nonce", "GET", 418, "application/json", b"{}")


def test_responses_carry_no_store_headers(scenario: Scenario) -> None:
    response = scenario.client.get("/api/v1/info")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
