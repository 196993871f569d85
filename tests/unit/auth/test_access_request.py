"""EIP-712 AccessRequest: strict JSON parsing, signing and recovery through coincurve."""

from __future__ import annotations

import eth_keys
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_keys.backends import CoinCurveECCBackend
from eth_keys.constants import SECPK1_N
from hypothesis import given, settings
from hypothesis import strategies as st

from datamarket.auth import (
    ACCESS_TYPES,
    AccessRequest,
    InvalidRequest,
    InvalidSignature,
    domain,
    parse_address,
    recover_access_signer,
    sign_access_request,
    verify_access_signature,
)
from datamarket.chain.devchain import dev_account
from tests.strategies import addresses, bytes32_hex, private_keys, uints

MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
requests_ = st.builds(
    AccessRequest,
    datatoken=addresses,
    consumer=addresses,
    service_id=uints(8),
    order_tx=bytes32_hex,
    order_id=uints(64),
    consumer_key=bytes32_hex,
    nonce=uints(256),
)


def sample(**overrides) -> dict:
    values = {
        "datatoken": MARKET,
        "consumer": dev_account(3).address,
        "serviceId": 0,
        "orderTx": "0x" + "11" * 32,
        "orderId": 3,
        "consumerKey": "0x" + "22" * 32,
        "nonce": 1,
    }
    values.update(overrides)
    return values


def test_eth_keys_uses_coincurve() -> None:
    assert isinstance(eth_keys.backends.get_backend(), CoinCurveECCBackend)


@settings(max_examples=40, deadline=None)
@given(req=requests_)
def test_json_round_trip(req: AccessRequest) -> None:
    assert AccessRequest.from_json(req.to_json()) == req


@settings(max_examples=25, deadline=None)
@given(req=requests_, key=private_keys, chain_id=st.integers(1, 2**64))
def test_sign_and_recover_agree_with_eth_account(req: AccessRequest, key: bytes, chain_id: int) -> None:
    signature = sign_access_request(req, key, chain_id, MARKET)
    signer = Account.from_key(key).address
    assert recover_access_signer(req, signature, chain_id, MARKET) == signer
    reference = Account.sign_message(
        encode_typed_data(
            domain_data=domain(chain_id, MARKET), message_types=ACCESS_TYPES, message_data=req.message()
        ),
        key,
    )
    assert signature == bytes(reference.signature)
    assert recover_access_signer(req, signature, chain_id + 1, MARKET) != signer


@settings(max_examples=100, deadline=None)
@given(raw=st.binary(min_size=65, max_size=65))
def test_random_signatures_never_crash(raw: bytes) -> None:
    req = AccessRequest.from_json(sample())
    try:
        signer = recover_access_signer(req, raw, 31337, MARKET)
    except InvalidSignature:
        return
    assert signer.startswith("0x") and len(signer) == 42


def test_high_s_and_bad_v_are_refused() -> None:
    req = AccessRequest.from_json(sample())
    signature = sign_access_request(req, dev_account(3).key, 31337, MARKET)
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    malleable = r + (SECPK1_N - s).to_bytes(32, "big") + bytes([55 - v])
    with pytest.raises(InvalidSignature):
        recover_access_signer(req, malleable, 31337, MARKET)
    for bad_v in (2, 26, 29):
        with pytest.raises(InvalidSignature):
            recover_access_signer(req, signature[:64] + bytes([bad_v]), 31337, MARKET)
    verify_access_signature(req, "0x" + signature.hex(), 31337, MARKET)
    verify_access_signature(req, signature[:64] + bytes([v - 27]), 31337, MARKET)  # v 0/1 as 27/28
    with pytest.raises(InvalidSignature):
        verify_access_signature(req, signature, 1, MARKET)


@pytest.mark.parametrize(
    "overrides",
    [
        {"consumer": dev_account(3).address[:2] + dev_account(3).address[2:].swapcase()},
        {"consumer": dev_account(3).address[:-1]},
        {"consumer": 5},
        {"datatoken": "0xZZ" + MARKET[4:]},
        {"serviceId": -1},
        {"serviceId": 256},
        {"serviceId": "256"},
        {"serviceId": "01"},
        {"serviceId": "-1"},
        {"serviceId": " 1"},
        {"serviceId": "1e2"},
        {"serviceId": "0x1"},
        {"serviceId": ""},
        {"serviceId": False},
        {"nonce": 2**256},
        {"nonce": str(2**256)},
        {"nonce": "1" * 79},
        {"nonce": 1.0},
        {"nonce": "1.0"},
        {"nonce": None},
        {"orderTx": "0x" + "11" * 31},
        {"orderTx": "11" * 32},
        {"consumerKey": "0x" + "zz" * 32},
        {"extra": 1},
    ],
)
def test_strict_parsing(overrides: dict) -> None:
    with pytest.raises(InvalidRequest):
        AccessRequest.from_json(sample(**overrides))


def test_missing_fields_and_non_objects() -> None:
    body = sample()
    del body["nonce"]
    with pytest.raises(InvalidRequest) as caught:
        AccessRequest.from_json(body)
    assert caught.value.details == {"fields": ["nonce"]}
    with pytest.raises(InvalidRequest):
        AccessRequest.from_json([])


def test_hex_is_normalized_to_lower_case() -> None:
    req = AccessRequest.from_json(sample(orderTx="0x" + "AB" * 32))
    assert req.order_tx == "0x" + "ab" * 32


def test_parse_address_accepts_any_case_and_checks_a_mixed_case_checksum() -> None:
    assert parse_address(MARKET, "m") == MARKET
    assert parse_address(MARKET.lower(), "m") == MARKET
    assert parse_address("0x" + MARKET[2:].upper(), "m") == MARKET
    mistyped = MARKET[:-2] + "A3"
    with pytest.raises(InvalidRequest) as caught:
        parse_address(mistyped, "market")
    assert caught.value.details == {"field": "market"}
    assert str(caught.value) == "market is not a valid EIP-55 checksum"


def test_a_request_keeps_checksummed_addresses_and_ints_however_they_came() -> None:
    account = dev_account(3).address
    wallet_form = sample(
        consumer=account.lower(), datatoken=MARKET.lower(), serviceId="1", orderId="7", nonce=str(2**255)
    )
    req = AccessRequest.from_json(wallet_form)
    assert (req.consumer, req.datatoken) == (account, MARKET)
    assert (req.service_id, req.order_id, req.nonce) == (1, 7, 2**255)
    as_ints = AccessRequest.from_json(
        sample(consumer=account, datatoken=MARKET, serviceId=1, orderId=7, nonce=2**255)
    )
    assert req == as_ints
    assert req.to_json()["nonce"] == 2**255
    assert req.digest(31337, MARKET) == as_ints.digest(31337, MARKET)


def test_a_fixed_request_keeps_its_digest_and_signature() -> None:
    """Known answers: a change to the domain, the type or the field encoding changes these bytes, and
    every signature a wallet has made would stop verifying."""
    req = AccessRequest.from_json(sample(consumer=dev_account(4).address))
    digest = req.digest(31337, MARKET)
    assert digest.hex() == "477b2280d3eb5db388ba6513ad527c5ce914deba8cd557b537d81584da8814d5"
    signature = sign_access_request(req, dev_account(4).key, 31337, MARKET)
    assert signature.hex() == (
        "cdd91686f17ade7e728cbc31103f1f629580f8d57b69973aa17e7e0fa8c5aadb"
        "258b992e8c38e68092a8a376006fc82a8a5dfdf03618a3e3b0e3deeb27c668dc1b"
    )
    verify_access_signature(req, signature, 31337, MARKET)
