"""POST /api/v1/fees against the market: the quote is one the contract accepts, pays the fee to this
provider, and the counter behind its nonce survives a restart of the provider."""

from __future__ import annotations

import pytest

from datamarket.chain.events import OrderStarted
from datamarket.chain.market import Market
from tests.conftest import ONE
from tests.integration.provider.world import FEES, make_provider_world

pytestmark = pytest.mark.integration


def test_a_quote_with_a_fee_is_accepted_on_chain_and_pays_this_provider(anvil, world, tmp_path) -> None:
    pw = make_provider_world(anvil, world, tmp_path, fee_token=world.eur, fee_download=3 * ONE)
    ds = pw.publish()
    provider = world.accounts.provider.address
    before = world.market.earnings(world.eur, provider)
    quote, signature = pw.fee_quote(ds.datatoken, pw.consumer.address)
    assert (quote.fee_token, quote.amount, quote.nonce) == (world.eur, 3 * ONE, 1)
    assert quote.valid_until == world.now() + pw.settings.quote_validity_s
    result = world.as_(pw.consumer).buy_and_order(quote, signature)
    order = result.event(OrderStarted)
    assert (order.provider, order.fee_token, order.fee_amount, order.quote_nonce) == (
        provider,
        world.eur,
        3 * ONE,
        1,
    )
    assert world.market.earnings(world.eur, provider) == before + 3 * ONE
    assert world.market.is_quote_used(provider, 1)


def test_quote_nonces_continue_after_a_restart(anvil, world, tmp_path) -> None:
    first = make_provider_world(anvil, world, tmp_path)
    ds = first.publish()
    quote, signature = first.fee_quote(ds.datatoken, first.consumer.address)
    world.as_(first.consumer).buy_and_order(quote, signature)
    # A new app on the same data directory: the counter and the consumers' nonces are kept.
    again = make_provider_world(anvil, world, tmp_path)
    assert again.fee_quote(ds.datatoken, again.consumer.address)[0].nonce == 2


def test_used_quote_nonces_are_skipped_after_losing_the_store(anvil, world, tmp_path) -> None:
    first = make_provider_world(anvil, world, tmp_path / "a")
    ds = first.publish()
    for _ in range(2):
        quote, signature = first.fee_quote(ds.datatoken, first.consumer.address)
        world.as_(first.consumer).buy_and_order(quote, signature)
    fresh = make_provider_world(anvil, world, tmp_path / "b")  # an empty nonce store
    quote, signature = fresh.fee_quote(ds.datatoken, fresh.consumer.address)
    assert quote.nonce == 3
    world.as_(fresh.consumer).buy_and_order(quote, signature)


def test_refusals_against_the_chain(pw) -> None:
    world = pw.world
    ds = pw.publish(services=0b01)

    def post(**body):
        values = {"datatoken": ds.datatoken, "consumer": pw.consumer.address, "service_id": 0}
        values.update(body)
        response = pw.client.post(FEES, json=values)
        return response.status_code, response.json["error"]["code"]

    assert post(datatoken=world.usd) == (404, "unknown_dataset")
    assert post(consumer="0x" + pw.consumer.address[2:].swapcase()) == (400, "invalid_request")
    world.as_(world.accounts.publisher).set_state(ds.datatoken, 2)
    assert post() == (403, "dataset_not_active")


def test_info_reports_this_provider(pw) -> None:
    info = pw.client.get("/api/v1/info").json
    world = pw.world
    assert info["address"] == world.accounts.provider.address
    assert (info["chain_id"], info["market"]) == (31337, world.market.address)
    assert [k["key_id"] for k in info["encryption_keys"]] == [pw.keys.public_keys()[0].key_id]
    health = pw.client.get("/healthz")
    assert (health.status_code, health.json["status"]) == (200, "ok")


def test_chain_id_comes_from_the_node_when_not_set(anvil, world, tmp_path) -> None:
    pw = make_provider_world(anvil, world, tmp_path, chain_id=None)
    assert pw.client.get("/api/v1/info").json["chain_id"] == 31337


def test_wrong_configured_chain_id_fails_health(anvil, world, tmp_path) -> None:
    pw = make_provider_world(anvil, world, tmp_path, chain_id=5)
    health = pw.client.get("/healthz")
    assert (health.status_code, health.json["checks"]["chain"]) == (503, "wrong_chain")


def test_an_unreachable_node_is_503(anvil, world, tmp_path) -> None:
    from datamarket.chain.devchain import free_port

    pw = make_provider_world(
        anvil, world, tmp_path, rpc_url=f"http://127.0.0.1:{free_port()}", rpc_timeout_s=2
    )
    response = pw.client.post(
        FEES, json={"datatoken": world.usd, "consumer": pw.consumer.address, "service_id": 0}
    )
    assert (response.status_code, response.json["error"]["code"]) == (503, "chain_unavailable")
    assert "127.0.0.1" not in response.json["error"]["message"]
    assert pw.client.get("/healthz").json["checks"]["chain"] == "unavailable"
    assert isinstance(world.market, Market)
