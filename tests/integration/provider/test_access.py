"""POST /api/v1/access against a real market on anvil: the happy path and every attack.

Each attack is its own test, is refused with its code and status (never a 5xx), and leaves the
consumer's nonce where it was (read through GET /api/v1/nonce before and after).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from datamarket.chain.devchain import dev_account
from datamarket.chain.events import DatasetState
from datamarket.chain.market import dataset_id
from datamarket.crypto import stream
from datamarket.crypto.keys import unwrap_key
from datamarket.storage.base import cat_bytes
from tests.integration.provider.world import ACCESS, FEES, PLAINTEXT, ProviderWorld, make_provider_world
from tests.wallet import high_s, typed_data_v4, wallet_signature

pytestmark = pytest.mark.integration


def refused(pw: ProviderWorld, body: Any, status: int, code: str, **post: Any) -> dict:
    before = pw.last_nonce()
    response = (
        pw.client.post(ACCESS, json=body, **post) if "data" not in post else pw.client.post(ACCESS, **post)
    )
    assert response.status_code < 500
    assert (response.status_code, response.json["error"]["code"]) == (status, code), response.json
    assert pw.last_nonce() == before, "a refused request changed the nonce"
    return response.json["error"]


def send_raw(pw: ProviderWorld, account, fn, *, gas: int = 1_000_000, wait: bool = True) -> str:
    """Sign and send a transaction with a fixed gas limit (no estimate, so a revert is mined)."""
    w3 = pw.world.w3
    tx = fn.build_transaction(
        {
            "from": account.address,
            "gas": gas,
            "chainId": w3.eth.chain_id,
            "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        }
    )
    tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
    if wait:
        w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    return "0x" + bytes(tx_hash).hex()


# ---------------------------------------------------------------------------------------------- happy path


def test_happy_path_consumer_gets_the_publishers_content_key(pw: ProviderWorld) -> None:
    ds = pw.publish()
    tx = pw.order(ds)
    req = pw.request(ds, tx)
    assert pw.last_nonce() == 0
    response = pw.client.post(ACCESS, json=pw.body(req))
    assert response.status_code == 200, response.json
    context = f"access:{dataset_id(pw.world.market.chain_id, ds.datatoken)}:{tx}"
    key = unwrap_key(response.json["wrapped_key"], pw.one_time, context=context)
    assert key == ds.content_key
    file = response.json["file"]
    assert file["cid"] == ds.data_cid
    # The consumer fetches the ciphertext from the store and decrypts it locally.
    assert stream.decrypt_bytes(cat_bytes(pw.store, file["cid"]), key) == PLAINTEXT
    assert pw.last_nonce() == req.nonce
    # The same order serves a new request with another nonce (a retried download).
    again = pw.request(ds, tx, nonce=req.nonce + 1)
    assert pw.client.post(ACCESS, json=pw.body(again)).status_code == 200


@pytest.mark.parametrize("v_base", [27, 0])
def test_a_wallets_typed_data_message_is_the_request(pw: ProviderWorld, v_base: int) -> None:
    """A web page posts the ``message`` its wallet signed with eth_signTypedData_v4 (lower-case
    addresses, integers as decimal strings) and the wallet's signature (v 27/28, or 0/1)."""
    ds = pw.publish()
    tx = pw.order(ds)
    req = pw.request(ds, tx)
    payload = typed_data_v4(req, pw.world.market.chain_id, pw.world.market.address)
    signature = wallet_signature(pw.consumer.key, payload, v_base=v_base)
    assert payload["message"]["orderId"] == str(req.order_id)
    mistyped = {**payload["message"], "datatoken": "0x" + ds.datatoken[2:].swapcase()}
    error = refused(pw, {"request": mistyped, "signature": signature}, 400, "invalid_request")
    assert error["details"]["field"] == "datatoken"
    error = refused(
        pw, {"request": payload["message"], "signature": high_s(signature)}, 401, "invalid_signature"
    )
    response = pw.client.post(ACCESS, json={"request": payload["message"], "signature": signature})
    assert response.status_code == 200, response.json
    context = f"access:{dataset_id(pw.world.market.chain_id, ds.datatoken)}:{tx}"
    assert unwrap_key(response.json["wrapped_key"], pw.one_time, context=context) == ds.content_key
    assert pw.last_nonce() == req.nonce


# ---------------------------------------------------------------------------------------------- signatures


def test_forged_signature(pw: ProviderWorld) -> None:
    ds = pw.publish()
    body = pw.body(pw.request(ds, pw.order(ds)))
    sig = bytearray.fromhex(body["signature"][2:])
    sig[5] ^= 0xFF
    refused(pw, {**body, "signature": "0x" + sig.hex()}, 401, "invalid_signature")


def test_signature_by_another_account(pw: ProviderWorld) -> None:
    ds = pw.publish()
    req = pw.request(ds, pw.order(ds))
    refused(pw, pw.body(req, signer=pw.world.accounts.consumer2), 401, "invalid_signature")


def test_wrong_chain_id_in_the_typed_data(pw: ProviderWorld) -> None:
    ds = pw.publish()
    req = pw.request(ds, pw.order(ds))
    refused(pw, pw.body(req, chain_id=1), 401, "invalid_signature")


# ---------------------------------------------------------------------------------------------- nonces


def test_reused_nonce(pw: ProviderWorld) -> None:
    ds = pw.publish()
    body = pw.body(pw.request(ds, pw.order(ds)))
    assert pw.client.post(ACCESS, json=body).status_code == 200
    refused(pw, body, 409, "nonce_used")


def test_equal_nonce_in_a_new_request(pw: ProviderWorld) -> None:
    ds = pw.publish()
    tx = pw.order(ds)
    first = pw.request(ds, tx)
    assert pw.client.post(ACCESS, json=pw.body(first)).status_code == 200
    # Another one-time key, same nonce: a different, validly signed request, still refused.
    other = pw.request(ds, tx, nonce=first.nonce, consumer_key="0x" + "42" * 32)
    refused(pw, pw.body(other), 409, "nonce_used")


def test_two_requests_signed_at_once_are_both_served_in_either_order(pw: ProviderWorld) -> None:
    """Two downloads started together by one consumer: the one with the lower nonce arrives second
    and is served too; each nonce once."""
    ds = pw.publish()
    tx = pw.order(ds)
    t = time.time_ns() // 1_000_000
    first, second = pw.request(ds, tx, nonce=t), pw.request(ds, tx, nonce=t - 5)
    for req in (first, second):
        response = pw.client.post(ACCESS, json=pw.body(req))
        assert response.status_code == 200, response.json
        key = unwrap_key(
            response.json["wrapped_key"],
            pw.one_time,
            context=f"access:{dataset_id(pw.world.market.chain_id, ds.datatoken)}:{tx}",
        )
        assert key == ds.content_key
    assert pw.last_nonce() == t
    for req in (first, second):
        refused(pw, pw.body(req), 409, "nonce_used")


def test_nonce_older_than_the_window(pw: ProviderWorld) -> None:
    ds = pw.publish()
    past = time.time_ns() // 1_000_000 - 5 * 60_000
    error = refused(pw, pw.body(pw.request(ds, pw.order(ds), nonce=past)), 422, "nonce_expired")
    assert error["details"]["min"] > past


def test_nonce_from_the_future_beyond_the_bound(pw: ProviderWorld) -> None:
    ds = pw.publish()
    future = time.time_ns() // 1_000_000 + 5 * 60_000
    refused(pw, pw.body(pw.request(ds, pw.order(ds), nonce=future)), 422, "nonce_in_future")


# ---------------------------------------------------------------------------------------------- orders


def test_order_by_another_consumer(pw: ProviderWorld) -> None:
    ds = pw.publish()
    tx = pw.order(ds, pw.world.accounts.consumer2)
    # consumer signs a valid request naming consumer2's order.
    refused(pw, pw.body(pw.request(ds, tx)), 403, "order_wrong_consumer")


def test_order_for_another_dataset(pw: ProviderWorld) -> None:
    ds, other = pw.publish(), pw.publish()
    tx = pw.order(other)
    refused(pw, pw.body(pw.request(ds, tx)), 403, "order_wrong_dataset")


def test_order_for_another_service(pw: ProviderWorld) -> None:
    ds = pw.publish()
    tx = pw.order(ds)  # download (0)
    refused(pw, pw.body(pw.request(ds, tx, service_id=1)), 403, "order_wrong_service")


def test_a_compute_order_releases_no_key(pw: ProviderWorld) -> None:
    ds = pw.publish()
    world = pw.world
    quote, sig = world.quote(ds.datatoken, service_id=1)
    tx = world.as_(pw.consumer).buy_and_order(quote, sig).tx_hash
    refused(pw, pw.body(pw.request(ds, tx, service_id=1)), 403, "service_not_downloadable")


def test_expired_order(pw: ProviderWorld) -> None:
    ds = pw.publish(timeout=600)
    tx = pw.order(ds)
    w3 = pw.world.w3
    w3.provider.make_request("evm_increaseTime", [601])
    w3.provider.make_request("evm_mine", [])
    error = refused(pw, pw.body(pw.request(ds, tx)), 410, "order_expired")
    assert error["details"]["now"] > error["details"]["expired_at"]


def test_reverted_order_transaction(pw: ProviderWorld) -> None:
    ds = pw.publish()
    world, consumer = pw.world, pw.consumer
    quote, sig = world.quote(ds.datatoken, valid_until=world.now() - 1)  # expired quote: reverts
    fn = world.market.contract.functions.buyAndOrder(quote.as_tuple(), sig, [], world.usd, 10**30)
    tx = send_raw(pw, consumer, fn)
    assert world.receipt(tx)["status"] == 0
    refused(pw, pw.body(pw.request(ds, tx)), 403, "order_reverted")


def test_order_whose_provider_fee_went_to_someone_else(pw: ProviderWorld) -> None:
    """A dataset served by another provider: the order pays that provider and names it."""
    world = pw.world
    elsewhere = world.accounts.outsider
    ds = pw.publish(provider=elsewhere)
    refused_quote = pw.client.post(
        FEES, json={"datatoken": ds.datatoken, "consumer": pw.consumer.address, "service_id": 0}
    )
    assert (refused_quote.status_code, refused_quote.json["error"]["code"]) == (403, "not_this_provider")
    quote, sig = world.quote(ds.datatoken, signer=elsewhere, amount=0)
    tx = world.as_(pw.consumer).buy_and_order(quote, sig).tx_hash
    refused(pw, pw.body(pw.request(ds, tx)), 403, "order_wrong_provider")


def test_quote_signed_by_another_key(pw: ProviderWorld) -> None:
    ds = pw.publish()
    world = pw.world
    quote, sig = world.quote(ds.datatoken, signer=world.accounts.outsider)
    error = world.expect_revert("MarketQuoteSignerMismatch", world.as_(pw.consumer).buy_and_order, quote, sig)
    assert error.details["signer"] == world.accounts.outsider.address
    # No order exists; a request naming an unrelated transaction (the publish) is refused.
    unrelated = world.w3.eth.get_block("latest", full_transactions=True)["transactions"][0]["hash"]
    refused(pw, pw.body(pw.request(ds, "0x" + bytes(unrelated).hex())), 403, "not_an_order")


def test_unknown_transaction(pw: ProviderWorld) -> None:
    ds = pw.publish()
    refused(pw, pw.body(pw.request(ds, "0x" + "ab" * 32)), 404, "order_not_found")


def test_pending_transaction(pw: ProviderWorld) -> None:
    ds = pw.publish()
    world = pw.world
    quote, sig = pw.fee_quote(ds.datatoken, pw.consumer.address)
    fn = world.market.contract.functions.buyAndOrder(quote.as_tuple(), sig, [], world.usd, 10**30)
    w3 = world.w3
    w3.provider.make_request("evm_setAutomine", [False])
    try:
        tx = send_raw(pw, pw.consumer, fn, wait=False)
        body = pw.body(pw.request(ds, tx))
        error = refused(pw, body, 409, "order_pending")
        assert error["details"] == {"confirmations": 0, "required": 1}
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
    w3.provider.make_request("evm_mine", [])
    assert world.receipt(tx)["status"] == 1
    # Nothing was consumed: the very same signed request now succeeds.
    assert pw.client.post(ACCESS, json=body).status_code == 200


def test_confirmations_setting(anvil, world, tmp_path) -> None:
    pw = make_provider_world(anvil, world, tmp_path, min_confirmations=3)
    ds = pw.publish()
    tx = pw.order(ds)
    body = pw.body(pw.request(ds, tx))
    error = refused(pw, body, 409, "order_pending")
    assert error["details"] == {"confirmations": 1, "required": 3}
    world.w3.provider.make_request("anvil_mine", [2])
    assert pw.client.post(ACCESS, json=body).status_code == 200


# ---------------------------------------------------------------------------------------------- dataset state


@pytest.mark.parametrize("state", [DatasetState.PAUSED, DatasetState.RETIRED])
def test_paused_or_retired_dataset(pw: ProviderWorld, state: DatasetState) -> None:
    ds = pw.publish()
    tx = pw.order(ds)
    pw.world.as_(pw.world.accounts.publisher).set_state(ds.datatoken, state)
    error = refused(pw, pw.body(pw.request(ds, tx)), 403, "dataset_not_active")
    assert error["details"] == {"state": state.name.lower()}


def test_consumer_not_on_the_allowlist(pw: ProviderWorld) -> None:
    world = pw.world
    a = world.accounts
    ds = pw.publish(allowlist=[a.consumer.address, a.consumer2.address])
    tx = pw.order(ds)
    # The chain refuses an order from someone not listed...
    quote, sig = world.quote(ds.datatoken, a.stranger.address, nonce=10_000)
    world.expect_revert("MarketNotAllowlisted", world.as_(a.consumer2).buy_and_order, quote, sig, [])
    # ...and the provider refuses access once the publisher takes the consumer off the list.
    world.as_(a.publisher).set_allowlist(ds.datatoken, type(ds.allowlist).of([a.consumer2.address]).root)
    refused(
        pw, pw.body(pw.request(ds, tx), proof=ds.allowlist.proof(a.consumer.address)), 403, "not_allowlisted"
    )


def test_allowlisted_consumer_with_its_proof(pw: ProviderWorld) -> None:
    a = pw.world.accounts
    ds = pw.publish(allowlist=[a.consumer.address, a.consumer2.address])
    tx = pw.order(ds)
    refused(pw, pw.body(pw.request(ds, tx)), 403, "not_allowlisted")  # no proof sent
    body = pw.body(pw.request(ds, tx), proof=ds.allowlist.proof(a.consumer.address))
    assert pw.client.post(ACCESS, json=body).status_code == 200


# ------------------------------------------------------------------------------------ malformed input


def test_malformed_json(pw: ProviderWorld) -> None:
    refused(pw, None, 400, "invalid_json", data=b'{"request": {', content_type="application/json")


def test_ten_megabyte_body(pw: ProviderWorld) -> None:
    big = b'{"request": "' + b"a" * (10 * 1024 * 1024) + b'"}'
    refused(pw, None, 413, "request_too_large", data=big, content_type="application/json")


def test_unknown_fields(pw: ProviderWorld) -> None:
    ds = pw.publish()
    body = pw.body(pw.request(ds, pw.order(ds)))
    error = refused(pw, {**body, "admin": True}, 400, "invalid_request")
    assert error["details"] == {"fields": ["admin"]}
    body["request"]["expires"] = 1
    refused(pw, body, 400, "invalid_request")


def test_a_mixed_case_address_with_a_wrong_checksum(pw: ProviderWorld) -> None:
    ds = pw.publish()
    body = pw.body(pw.request(ds, pw.order(ds)))
    body["request"]["consumer"] = "0x" + pw.consumer.address[2:].swapcase()
    error = refused(pw, body, 400, "invalid_request")
    assert error["details"] == {"field": "consumer"}
    assert error["message"] == "consumer is not a valid EIP-55 checksum"
    body["request"]["consumer"] = pw.consumer.address
    body["request"]["datatoken"] = "0x" + ds.datatoken[2:].swapcase()
    refused(pw, body, 400, "invalid_request")
    # All in one case carries no checksum: taken as the checksummed address, signed as such.
    body["request"]["datatoken"] = ds.datatoken.lower()
    body["request"]["consumer"] = "0x" + pw.consumer.address[2:].upper()
    assert pw.client.post(ACCESS, json=body).status_code == 200


def test_invalid_address(pw: ProviderWorld) -> None:
    ds = pw.publish()
    body = pw.body(pw.request(ds, pw.order(ds)))
    for bad in ("0x1234", "0x" + "zz" * 20, 12345, None, dev_account(3).address + "00"):
        body["request"]["datatoken"] = bad
        refused(pw, body, 400, "invalid_request")
    response = pw.client.get("/api/v1/nonce", query_string={"address": "0xnot-an-address"})
    assert (response.status_code, response.json["error"]["code"]) == (400, "invalid_request")


def test_nonces_survive_a_provider_restart(anvil, world, tmp_path) -> None:
    pw = make_provider_world(anvil, world, tmp_path)
    ds = pw.publish()
    body = pw.body(pw.request(ds, pw.order(ds)))
    assert pw.client.post(ACCESS, json=body).status_code == 200
    restarted = make_provider_world(anvil, world, tmp_path)  # same data directory, new app and stores
    restarted.one_time = pw.one_time
    assert restarted.last_nonce() == body["request"]["nonce"]
    refused(restarted, body, 409, "nonce_used")
