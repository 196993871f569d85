from __future__ import annotations

import dataclasses

import pytest
from eth_abi import encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from datamarket.chain import artifacts
from datamarket.chain.quotes import (
    QUOTE_TYPES,
    SERVICE_COMPUTE,
    SERVICE_DOWNLOAD,
    ZERO_ADDRESS,
    ZERO_HASH,
    ProviderFee,
    domain,
    recover_quote_signer,
    sign_quote,
)
from tests.strategies import addresses, private_keys, quotes

MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
CHAIN_ID = 31337

# Written out by hand from DataMarket.sol's PROVIDER_FEE_TYPEHASH and OpenZeppelin's EIP712, so the
# expected digest does not come from the code under test.
PROVIDER_FEE_TYPE = (
    "ProviderFee(address datatoken,address consumer,uint8 serviceId,address feeToken,uint256 amount,"
    "uint64 validUntil,uint64 nonce,bytes32 environment)"
)
DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"


def reference_digest(quote: ProviderFee, chain_id: int, market: str) -> bytes:
    domain_separator = keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [keccak(text=DOMAIN_TYPE), keccak(text="Datamarket"), keccak(text="1"), chain_id, market],
        )
    )
    struct_hash = keccak(
        encode(
            ["bytes32", "address", "address", "uint8", "address", "uint256", "uint64", "uint64", "bytes32"],
            [
                keccak(text=PROVIDER_FEE_TYPE),
                quote.datatoken,
                quote.consumer,
                quote.service_id,
                quote.fee_token,
                quote.amount,
                quote.valid_until,
                quote.nonce,
                bytes.fromhex(quote.environment[2:]),
            ],
        )
    )
    return keccak(b"\x19\x01" + domain_separator + struct_hash)


def example_quote(**overrides: object) -> ProviderFee:
    values = {
        "datatoken": "0x" + "11" * 20,
        "consumer": "0x" + "22" * 20,
        "service_id": SERVICE_DOWNLOAD,
        "fee_token": ZERO_ADDRESS,
        "amount": 10**18,
        "valid_until": 1_900_000_000,
        "nonce": 7,
    }
    values.update(overrides)
    return ProviderFee(**values)  # type: ignore[arg-type]


@settings(max_examples=40)
@given(quote=quotes, key=private_keys)
def test_sign_then_recover_gives_the_signer(quote: ProviderFee, key: bytes) -> None:
    signature = sign_quote(quote, key, chain_id=CHAIN_ID, market=MARKET)
    assert len(signature) == 65
    assert recover_quote_signer(quote, signature, chain_id=CHAIN_ID, market=MARKET) == (
        Account.from_key(key).address
    )


@settings(max_examples=40)
@given(quote=quotes, key=private_keys, chain_id=st.integers(1, 2**64), market=addresses)
def test_signature_is_over_the_eip712_digest_the_contract_computes(
    quote: ProviderFee, key: bytes, chain_id: int, market: str
) -> None:
    # Signatures are deterministic (RFC 6979), so signing the reference digest must give the same bytes.
    expected = Account.unsafe_sign_hash(reference_digest(quote, chain_id, market), key).signature
    assert sign_quote(quote, key, chain_id=chain_id, market=market) == bytes(expected)


def test_type_string_matches_the_contract_typehash_fields() -> None:
    fields = ",".join(f"{f['type']} {f['name']}" for f in QUOTE_TYPES["ProviderFee"])
    assert f"ProviderFee({fields})" == PROVIDER_FEE_TYPE


@settings(max_examples=30)
@given(
    quote=quotes,
    key=private_keys,
    field=st.sampled_from([f.name for f in dataclasses.fields(ProviderFee)]),
    data=st.data(),
)
def test_changing_any_field_breaks_the_signature(
    quote: ProviderFee, key: bytes, field: str, data: st.DataObject
) -> None:
    signature = sign_quote(quote, key, chain_id=CHAIN_ID, market=MARKET)
    current = getattr(quote, field)
    if isinstance(current, int):
        bits = {"service_id": 8, "valid_until": 64, "nonce": 64}.get(field, 256)
        other = data.draw(st.integers(0, 2**bits - 1).filter(lambda v: v != current))
    elif field == "environment":
        other = data.draw(st.binary(min_size=32, max_size=32).map(lambda b: "0x" + b.hex()))
    else:
        other = data.draw(addresses)
    if other == current:
        return
    tampered = dataclasses.replace(quote, **{field: other})
    signer = Account.from_key(key).address
    assert recover_quote_signer(tampered, signature, chain_id=CHAIN_ID, market=MARKET) != signer


@pytest.mark.parametrize(
    ("chain_id", "market"), [(CHAIN_ID + 1, MARKET), (CHAIN_ID, "0x" + "ab" * 20)], ids=["chain", "market"]
)
def test_a_signature_is_bound_to_its_chain_and_market(chain_id: int, market: str) -> None:
    key = b"\x01" * 32
    quote = example_quote()
    signature = sign_quote(quote, key, chain_id=CHAIN_ID, market=MARKET)
    assert recover_quote_signer(quote, signature, chain_id=CHAIN_ID, market=MARKET) == (
        Account.from_key(key).address
    )
    assert recover_quote_signer(quote, signature, chain_id=chain_id, market=market) != (
        Account.from_key(key).address
    )


def test_addresses_are_checksummed_at_construction() -> None:
    quote = example_quote(datatoken="0x" + "ab" * 20, consumer="0x" + "CD" * 20)
    assert quote.datatoken == to_checksum_address("0x" + "ab" * 20)
    assert quote.consumer == to_checksum_address("0x" + "cd" * 20)
    assert quote == example_quote(datatoken=to_checksum_address("0x" + "ab" * 20), consumer="0x" + "cd" * 20)


def test_malformed_address_is_rejected() -> None:
    with pytest.raises(ValueError):
        example_quote(consumer="0x1234")


def test_as_tuple_follows_the_contract_struct() -> None:
    market_abi = artifacts.load("DataMarket").abi
    start_order = next(i for i in market_abi if i.get("name") == "startOrder")
    components = start_order["inputs"][0]["components"]
    env = "0x" + "ee" * 32
    quote = example_quote(service_id=SERVICE_COMPUTE, environment=env)
    by_name = dict(zip([c["name"] for c in components], quote.as_tuple(), strict=True))
    assert by_name == {
        "datatoken": quote.datatoken,
        "consumer": quote.consumer,
        "serviceId": SERVICE_COMPUTE,
        "feeToken": ZERO_ADDRESS,
        "amount": 10**18,
        "validUntil": 1_900_000_000,
        "nonce": 7,
        "environment": bytes.fromhex("ee" * 32),
    }
    assert [c["type"] for c in components] == [f["type"] for f in QUOTE_TYPES["ProviderFee"]]


@given(quote=quotes)
def test_json_round_trip(quote: ProviderFee) -> None:
    assert ProviderFee(**quote.to_json()) == quote


def test_default_environment_is_zero_and_domain_is_checksummed() -> None:
    assert example_quote().environment == ZERO_HASH
    assert domain(5, "0x" + "ab" * 20) == {
        "name": "Datamarket",
        "version": "1",
        "chainId": 5,
        "verifyingContract": to_checksum_address("0x" + "ab" * 20),
    }
