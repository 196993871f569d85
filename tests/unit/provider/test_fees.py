"""POST /api/v1/fees on fakes: the quote's fields, its signature, and every refusal."""

from __future__ import annotations

import pytest

from datamarket.chain.devchain import dev_account
from datamarket.chain.events import DatasetState
from datamarket.chain.quotes import ZERO_ADDRESS, ZERO_HASH, ProviderFee, recover_quote_signer
from provider.app import create_app
from tests.fakes import CHAIN_ID, MARKET
from tests.provider_api import validating
from tests.unit.provider.scenario import DATATOKEN, OTHER_DATATOKEN, Scenario, settings_for

FEES = "/api/v1/fees"


def body(s: Scenario, **overrides) -> dict:
    values = {"datatoken": DATATOKEN, "consumer": s.consumer.address, "service_id": 0}
    values.update(overrides)
    return values


def test_quote_is_signed_by_the_provider_and_nonces_increase(scenario: Scenario) -> None:
    s = scenario
    answers = [s.client.post(FEES, json=body(s)).json for _ in range(3)]
    quotes = [a["quote"] for a in answers]
    assert [q["nonce"] for q in quotes] == ["1", "2", "3"]  # uint64: decimal strings
    q = quotes[0]
    assert q == {
        "datatoken": DATATOKEN,
        "consumer": s.consumer.address,
        "serviceId": 0,
        "feeToken": ZERO_ADDRESS,
        "amount": "0",
        "validUntil": str(s.chain.latest.timestamp + 3600),
        "nonce": "1",
        "environment": ZERO_HASH,
    }
    quote = ProviderFee.from_json(q)
    signature = bytes.fromhex(answers[0]["signature"][2:])
    assert recover_quote_signer(quote, signature, chain_id=CHAIN_ID, market=MARKET) == s.provider.address


def test_fees_and_services_come_from_the_settings(tmp_path, scenario: Scenario) -> None:
    s = scenario
    token = "0x8A791620dd6260079BF849Dc5567aDC3F2FdC318"
    settings = settings_for(
        tmp_path,
        fee_token=token,
        fee_download=7,
        fee_compute=9,
        quote_validity_s=600,
        services=("download", "compute"),
    )
    app = validating(create_app(settings, chain=s.chain, store=s.store, nonces=s.nonces, keys=s.keys))
    c = app.test_client()
    download = c.post(FEES, json=body(s)).json["quote"]
    env = "0x" + "ee" * 32
    compute = c.post(FEES, json=body(s, service_id=1, environment=env)).json["quote"]
    assert (download["feeToken"], download["amount"]) == (token, "7")
    assert (compute["amount"], compute["environment"], compute["serviceId"]) == ("9", env, 1)
    assert download["validUntil"] == str(s.chain.latest.timestamp + 600)
    assert [x["type"] for x in c.get("/api/v1/info").json["services"]] == ["download", "compute"]


def test_a_wallet_shaped_fee_request_is_answered_with_checksummed_addresses(scenario: Scenario) -> None:
    s = scenario
    lower = body(s, datatoken=DATATOKEN.lower(), consumer=s.consumer.address.lower(), service_id="0")
    answer = s.client.post(FEES, json=lower)
    assert answer.status_code == 200, answer.json
    assert (answer.json["quote"]["datatoken"], answer.json["quote"]["consumer"]) == (
        DATATOKEN,
        s.consumer.address,
    )
    mistyped = s.consumer.address[:2] + s.consumer.address[2:].swapcase()
    refused = s.client.post(FEES, json=body(s, consumer=mistyped))
    assert refused.status_code == 400
    assert refused.json["error"]["details"]["field"] == "consumer"
    assert "EIP-55" in refused.json["error"]["message"]


def test_used_quote_nonces_are_skipped(scenario: Scenario) -> None:
    s = scenario
    s.chain.used_quotes |= {(s.provider.address, 1), (s.provider.address, 2)}
    assert s.client.post(FEES, json=body(s)).json["quote"]["nonce"] == "3"


def test_quote_nonces_survive_a_restart(tmp_path, scenario: Scenario) -> None:
    s = scenario
    s.client.post(FEES, json=body(s))
    from provider.nonces import SQLiteNonceStore

    again = SQLiteNonceStore(s.nonces.path, namespace="unit")
    app = validating(
        create_app(settings_for(tmp_path), chain=s.chain, store=s.store, nonces=again, keys=s.keys)
    )
    assert app.test_client().post(FEES, json=body(s)).json["quote"]["nonce"] == "2"


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"datatoken": OTHER_DATATOKEN}, 404, "unknown_dataset"),
        ({"service_id": 1}, 403, "service_not_offered"),
        ({"service_id": 0, "environment": "0x" + "11" * 32}, 400, "invalid_request"),
        (
            {"consumer": "0xF39fd6e51aad88f6f4ce6ab8827279cfffb92266"},
            400,
            "invalid_request",
        ),  # a bad EIP-55 checksum
        ({"consumer": "not an address"}, 400, "invalid_request"),
        ({"service_id": "00"}, 400, "invalid_request"),
        ({"service_id": "-0"}, 400, "invalid_request"),
        ({"service_id": 300}, 400, "invalid_request"),
        ({"surprise": 1}, 400, "invalid_request"),
    ],
)
def test_refusals(scenario: Scenario, overrides: dict, status: int, code: str) -> None:
    response = scenario.client.post(FEES, json=body(scenario, **overrides))
    assert (response.status_code, response.json["error"]["code"]) == (status, code)
    assert scenario.nonces.next_quote_nonce() == 1, "a refused quote uses no nonce"


def test_dataset_of_another_provider_or_not_active(scenario: Scenario) -> None:
    s = scenario
    s.publish(DATATOKEN, provider=dev_account(7).address)
    response = s.client.post(FEES, json=body(s))
    assert (response.status_code, response.json["error"]["code"]) == (403, "not_this_provider")
    s.publish(DATATOKEN)
    s.chain.set_state(DATATOKEN, DatasetState.PAUSED)
    assert s.client.post(FEES, json=body(s)).json["error"]["code"] == "dataset_not_active"
    s.publish(DATATOKEN, services=0b10)
    assert s.client.post(FEES, json=body(s)).json["error"]["code"] == "service_not_offered"
