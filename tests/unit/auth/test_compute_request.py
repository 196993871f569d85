"""EIP-712 ComputeRequest: strict parsing, signing and recovery."""

from __future__ import annotations

import dataclasses
import re

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from hypothesis import given, settings
from hypothesis import strategies as st

from datamarket.auth import (
    ACCESS_TYPES,
    COMPUTE_TYPES,
    AccessRequest,
    ComputeRequest,
    InvalidRequest,
    InvalidSignature,
    access_digest,
    compute_digest,
    domain,
    recover_compute_signer,
    sign_access_request,
    sign_compute_request,
    verify_compute_signature,
)
from datamarket.chain.devchain import dev_account
from datamarket.jobs.spec import job_hash
from tests.fakes import compute_request_json as sample
from tests.fakes import job_spec as job
from tests.strategies import addresses, bytes32_hex, private_keys, uints

MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
BUNDLE_CID = "bafkreibnoelefnzgwbcacyt4vh52ymxvzbjq7mmqhtcnwarfq4lzegsiqe"

compute_requests = st.builds(
    ComputeRequest,
    datatoken=addresses,
    consumer=addresses,
    service_id=uints(8),
    order_tx=bytes32_hex,
    order_id=uints(64),
    consumer_key=bytes32_hex,
    job_hash=bytes32_hex,
    nonce=uints(256),
)


# ------------------------------------------------------------------------------------- request


@settings(max_examples=40, deadline=None)
@given(req=compute_requests)
def test_json_round_trip(req: ComputeRequest) -> None:
    assert ComputeRequest.from_json(req.to_json()) == req


@settings(max_examples=20, deadline=None)
@given(req=compute_requests, key=private_keys, chain_id=st.integers(1, 2**64))
def test_sign_and_recover_agree_with_eth_account(req: ComputeRequest, key: bytes, chain_id: int) -> None:
    signature = sign_compute_request(req, key, chain_id, MARKET)
    signer = Account.from_key(key).address
    assert recover_compute_signer(req, signature, chain_id, MARKET) == signer
    reference = Account.sign_message(
        encode_typed_data(
            domain_data=domain(chain_id, MARKET), message_types=COMPUTE_TYPES, message_data=req.message()
        ),
        key,
    )
    assert signature == bytes(reference.signature)


def test_the_type_string_is_the_documented_one() -> None:
    fields = ",".join(f"{f['type']} {f['name']}" for f in COMPUTE_TYPES["ComputeRequest"])
    assert f"ComputeRequest({fields})" == (
        "ComputeRequest(address datatoken,address consumer,uint8 serviceId,bytes32 orderTx,uint64 orderId,"
        "bytes32 consumerKey,bytes32 jobHash,uint256 nonce)"
    )


def test_the_fields_follow_the_eip712_types_in_order() -> None:
    for cls, types in ((AccessRequest, ACCESS_TYPES), (ComputeRequest, COMPUTE_TYPES)):
        names = [f["name"] for f in types[cls.__name__]]
        snake = [re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower() for name in names]
        assert [f.name for f in dataclasses.fields(cls)] == snake
        assert cls.__dataclass_params__.frozen
    assert list(ComputeRequest.from_json(sample()).to_json()) == [
        f["name"] for f in COMPUTE_TYPES["ComputeRequest"]
    ]


def test_wrong_chain_market_or_signer_is_refused() -> None:
    req = ComputeRequest.from_json(sample())
    signature = sign_compute_request(req, dev_account(4).key, 31337, MARKET)
    verify_compute_signature(req, signature, 31337, MARKET)
    verify_compute_signature(req, "0x" + signature.hex(), 31337, MARKET)
    with pytest.raises(InvalidSignature):
        verify_compute_signature(req, signature, 1, MARKET)
    with pytest.raises(InvalidSignature):
        verify_compute_signature(req, signature, 31337, dev_account(0).address)
    other = sign_compute_request(req, dev_account(5).key, 31337, MARKET)
    with pytest.raises(InvalidSignature):
        verify_compute_signature(req, other, 31337, MARKET)
    with pytest.raises(InvalidSignature):
        verify_compute_signature(req, signature[:64] + b"\x02", 31337, MARKET)
    flipped = signature[:64] + bytes([55 - signature[64]])  # the other recovery id: another account
    with pytest.raises(InvalidSignature):
        verify_compute_signature(req, flipped, 31337, MARKET)
    verify_compute_signature(req, signature[:64] + bytes([signature[64] - 27]), 31337, MARKET)


def test_a_signature_over_another_job_does_not_verify() -> None:
    req = ComputeRequest.from_json(sample())
    signature = sign_compute_request(req, dev_account(4).key, 31337, MARKET)
    tampered = ComputeRequest.from_json(sample(jobHash=job_hash(job(epsilon=5.0))))
    with pytest.raises(InvalidSignature):
        verify_compute_signature(tampered, signature, 31337, MARKET)


def test_an_access_signature_is_no_compute_signature() -> None:
    fields = sample()
    del fields["jobHash"]
    access = AccessRequest.from_json(fields)
    compute = ComputeRequest.from_json(sample())
    assert access_digest(access, 31337, MARKET) != compute_digest(compute, 31337, MARKET)
    signature = sign_access_request(access, dev_account(4).key, 31337, MARKET)
    with pytest.raises(InvalidSignature):
        verify_compute_signature(compute, signature, 31337, MARKET)


def test_access_signing_agrees_with_eth_account_under_the_compute_sample() -> None:
    fields = sample()
    del fields["jobHash"]
    req = AccessRequest.from_json(fields)
    reference = Account.sign_message(
        encode_typed_data(
            domain_data=domain(31337, MARKET), message_types=ACCESS_TYPES, message_data=req.message()
        ),
        dev_account(4).key,
    )
    assert sign_access_request(req, dev_account(4).key, 31337, MARKET) == bytes(reference.signature)


@pytest.mark.parametrize(
    "overrides",
    [
        {"jobHash": "0x" + "11" * 31},
        {"jobHash": None},
        {"jobHash": "11" * 32},
        {"consumer": dev_account(4).address[:2] + dev_account(4).address[2:].swapcase()},
        {"serviceId": 256},
        {"nonce": -1},
        {"nonce": "-1"},
        {"orderId": "01"},
        {"orderId": str(2**64)},
        {"extra": 1},
    ],
)
def test_strict_request_parsing(overrides: dict) -> None:
    with pytest.raises(InvalidRequest):
        ComputeRequest.from_json(sample(**overrides))


def test_missing_job_hash_and_lower_casing() -> None:
    body = sample()
    del body["jobHash"]
    with pytest.raises(InvalidRequest) as caught:
        ComputeRequest.from_json(body)
    assert caught.value.details == {"fields": ["jobHash"]}
    req = ComputeRequest.from_json(sample(jobHash="0x" + "AB" * 32))
    assert req.job_hash == "0x" + "ab" * 32
    assert req.message()["jobHash"] == bytes.fromhex("ab" * 32)


def test_a_fixed_request_keeps_its_digest_and_signature() -> None:
    """Known answers: a change to the domain, the type or the field encoding changes these bytes, and
    every signature a wallet has made would stop verifying."""
    spec = {"algorithm": "mean", "params": {"column": "age"}, "epsilon": 1.0, "environment": "cpu"}
    # sha256 of b'{"algorithm":"mean","environment":"cpu","epsilon":1,"params":{"column":"age"}}' (RFC 8785)
    assert job_hash(spec) == "0xb1ede05b238baedb0b31f991630c0c367e8e0fc01fa3bb44757c3f6a87ecadc0"
    req = ComputeRequest.from_json(
        {
            "datatoken": MARKET,
            "consumer": dev_account(4).address,
            "serviceId": 1,
            "orderTx": "0x" + "11" * 32,
            "orderId": 3,
            "consumerKey": "0x" + "22" * 32,
            "jobHash": job_hash(spec),
            "nonce": 1,
        }
    )
    digest = req.digest(31337, MARKET)
    assert digest.hex() == "e4b495c27615fc8d990cac55b5e86387796cf0ef660d13a0528cbc153bafbd1d"
    signature = sign_compute_request(req, dev_account(4).key, 31337, MARKET)
    assert signature.hex() == (
        "5fb784081fcabb822022f3dcdcf05822731013236a40d2c5d9d1aa89d1c05b7e"
        "5849eee258ba4b35c8b7f8b43c26383990ec5b3935f88a4efdcaafca1cdd0c691c"
    )
