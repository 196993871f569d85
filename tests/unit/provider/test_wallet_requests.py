"""``POST /access`` and ``POST /compute`` with the request a web page posts: exactly the ``message`` of
the ``eth_signTypedData_v4`` payload its wallet signed (lower-case addresses, integers as decimal
strings), with the wallet's signature, v 27/28 or 0/1; and the refusals of what a wallet page could
get wrong."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from datamarket.auth import AccessRequest, ComputeRequest
from datamarket.chain.market import dataset_id
from datamarket.crypto.keys import unwrap_key
from tests.fakes import CHAIN_ID, MARKET
from tests.unit.provider.scenario import DATATOKEN, Scenario
from tests.unit.provider.test_compute_queue import JOB, Market, market
from tests.wallet import high_s, typed_data_v4, wallet_signature

ACCESS = "/api/v1/access"
COMPUTE = "/api/v1/compute"


def wallet_body(s: Scenario, req: AccessRequest | ComputeRequest, *, v_base: int = 27) -> dict:
    payload = typed_data_v4(req, CHAIN_ID, MARKET)
    assert payload["message"]["consumer"] == req.consumer.lower()
    assert payload["message"]["nonce"] == str(req.nonce)
    return {
        "request": payload["message"],
        "signature": wallet_signature(s.consumer.key, payload, v_base=v_base),
    }


@pytest.mark.parametrize("v_base", [27, 0])
def test_access_takes_the_wallets_message_as_the_request(scenario: Scenario, v_base: int) -> None:
    s = scenario
    tx = s.order()
    req = s.request(tx)
    body = wallet_body(s, req, v_base=v_base)
    assert body["signature"][-2:] in (("1b", "1c") if v_base == 27 else ("00", "01"))
    response = s.client.post(ACCESS, json=body)
    assert response.status_code == 200, response.json
    context = f"access:{dataset_id(CHAIN_ID, DATATOKEN)}:{tx}"
    assert unwrap_key(response.json["wrapped_key"], s.one_time, context=context) == s.content_key
    assert s.last_nonce() == req.nonce


def _refused(s: Scenario, body: dict, field_or_code: str, status: int = 400) -> None:
    before = s.last_nonce()
    response = s.client.post(ACCESS, json=body)
    assert response.status_code == status, response.json
    error = response.json["error"]
    assert field_or_code in (error["code"], error["details"].get("field")), error
    assert s.last_nonce() == before


def test_what_a_wallet_page_gets_wrong_is_refused_naming_it(scenario: Scenario) -> None:
    s = scenario
    req = s.request(s.order())
    good = wallet_body(s, req)
    address = req.consumer

    mistyped = {**good, "request": {**good["request"], "consumer": "0x" + address[2:].swapcase()}}
    _refused(s, mistyped, "consumer")
    for field, value in (("orderId", "0" + str(req.order_id)), ("nonce", "01"), ("nonce", "-1")):
        _refused(s, {**good, "request": {**good["request"], field: value}}, field)
    _refused(s, {**good, "signature": high_s(good["signature"])}, "invalid_signature", 401)
    # The same message, signed over other values, does not verify.
    other = wallet_body(s, s.request(s.order(), nonce=req.nonce + 1))
    response = s.client.post(ACCESS, json={**good, "signature": other["signature"]})
    assert (response.status_code, response.json["error"]["code"]) == (401, "invalid_signature")
    assert s.client.post(ACCESS, json=good).status_code == 200


@pytest.fixture
def compute_market(tmp_path: Path) -> Iterator[Market]:
    yield from market(tmp_path)


@pytest.mark.parametrize("v_base", [27, 0])
def test_compute_takes_the_wallets_message_as_the_request(compute_market: Market, v_base: int) -> None:
    m = compute_market
    signed = m.body(m.s.consumer, DATATOKEN)  # a fresh order; its request re-signed as a wallet would
    req = ComputeRequest.from_json(signed["request"])
    body = {**wallet_body(m.s, req, v_base=v_base), "job": JOB}
    assert body["request"]["datatoken"] == DATATOKEN.lower() and body["request"]["serviceId"] == "1"
    answer = m.post(body)
    assert answer.status_code == 202, answer.get_json()
    job = m.jobs.get(answer.get_json()["job_id"])
    assert (job.consumer, job.datatoken) == (m.s.consumer.address, DATATOKEN)
    assert m.s.last_nonce() == req.nonce


def test_compute_refuses_a_wallet_message_with_a_high_s(compute_market: Market) -> None:
    m = compute_market
    req = ComputeRequest.from_json(m.body(m.s.consumer, DATATOKEN)["request"])
    body = {**wallet_body(m.s, req), "job": JOB}
    answer = m.post({**body, "signature": high_s(body["signature"])})
    assert answer.get_json()["error"]["code"] == "invalid_signature"
    assert m.post({**body, "request": {**body["request"], "orderId": "-1"}}).status_code == 400
    assert m.post(body).status_code == 202
