"""Signing, recovery and verification are written once, on SignedRequest: a request type declares only
its EIP-712 fields and gets them all, agreeing with a wallet's eth_signTypedData."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from datamarket.auth import (
    AccessRequest,
    ComputeRequest,
    InvalidRequest,
    InvalidSignature,
    SignedRequest,
    domain,
)
from datamarket.chain.devchain import dev_account

MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
CONSUMER = dev_account(4)  # a public anvil dev key


@dataclass(frozen=True)
class Greeting(SignedRequest):
    """A request type of two fields, defined here and nowhere else."""

    PRIMARY_TYPE: ClassVar[str] = "Greeting"
    TYPES: ClassVar[dict[str, list[dict[str, str]]]] = {
        "Greeting": [{"name": "consumer", "type": "address"}, {"name": "count", "type": "uint8"}]
    }

    consumer: str
    count: int


def test_a_new_request_type_signs_recovers_and_verifies_through_the_base() -> None:
    greeting = Greeting(consumer=CONSUMER.address, count=3)
    signature = greeting.sign(CONSUMER.key, 31337, MARKET)
    wallet = Account.sign_message(
        encode_typed_data(
            domain_data=domain(31337, MARKET), message_types=Greeting.TYPES, message_data=greeting.message()
        ),
        CONSUMER.key,
    )
    assert signature == wallet.signature
    assert greeting.signer(signature, 31337, MARKET) == CONSUMER.address
    greeting.verify(signature, 31337, MARKET)
    assert Greeting.from_json(greeting.to_json()) == greeting


def test_a_tampered_field_or_another_chain_fails_verification() -> None:
    greeting = Greeting(consumer=CONSUMER.address, count=3)
    signature = greeting.sign(CONSUMER.key, 31337, MARKET)
    with pytest.raises(InvalidSignature):
        dataclasses.replace(greeting, count=4).verify(signature, 31337, MARKET)
    with pytest.raises(InvalidSignature):
        greeting.verify(signature, 1, MARKET)


def test_fields_are_checked_from_their_eip712_types() -> None:
    with pytest.raises(InvalidRequest) as caught:
        Greeting(consumer=CONSUMER.address, count=256)
    assert caught.value.details == {"field": "count"}
    mistyped = CONSUMER.address[:2] + CONSUMER.address[2:].swapcase()
    with pytest.raises(InvalidRequest) as caught:
        Greeting(consumer=mistyped, count=1)
    assert caught.value.details == {"field": "consumer"}
    wallet_form = Greeting(consumer=CONSUMER.address.lower(), count="255")
    assert (wallet_form.consumer, wallet_form.count) == (CONSUMER.address, 255)


def test_no_request_type_defines_its_own_signing() -> None:
    operations = ("digest", "sign", "signer", "verify")
    for cls in (AccessRequest, ComputeRequest, Greeting):
        assert all(name not in vars(cls) for name in operations), cls
        assert all(getattr(cls, name) is getattr(SignedRequest, name) for name in operations)
