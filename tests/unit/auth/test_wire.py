"""The wire form's refusals: each names its code, message and field exactly as the provider reports
them to clients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from datamarket.auth import (
    AuthError,
    InvalidRequest,
    InvalidSignature,
    parse_address,
    parse_bytes32,
    parse_signature,
    parse_uint,
    recover_digest_signer,
    require_fields,
)

MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
R = "0x" + "11" * 32  # the r of a signature, as 0x hex


@pytest.mark.parametrize(
    ("refused", "message", "details"),
    [
        (
            lambda: parse_address(7, "consumer"),
            "consumer is not an address (0x and 40 hex digits)",
            {"field": "consumer"},
        ),
        (
            lambda: parse_address(MARKET[:-2] + "A3", "market"),
            "market is not a valid EIP-55 checksum",
            {"field": "market"},
        ),
        (
            lambda: parse_address("0x12", "datatoken"),
            "datatoken is not an address (0x and 40 hex digits)",
            {"field": "datatoken"},
        ),
        (
            lambda: parse_uint("01", "orderId", 64),
            "orderId is not a decimal string (digits, no sign, no leading zero)",
            {"field": "orderId"},
        ),
        (
            lambda: parse_uint("-1", "nonce", 256),
            "nonce is not a decimal string (digits, no sign, no leading zero)",
            {"field": "nonce"},
        ),
        (
            lambda: parse_uint(str(2**64), "orderId", 64),
            "orderId is not an integer in [0, 2^64)",
            {"field": "orderId"},
        ),
        (
            lambda: parse_bytes32("0x11", "orderTx"),
            "orderTx is not 0x and 64 hex digits",
            {"field": "orderTx"},
        ),
        (
            lambda: parse_uint(256, "serviceId", 8),
            "serviceId is not an integer in [0, 2^8)",
            {"field": "serviceId"},
        ),
        (lambda: parse_uint(True, "nonce", 256), "nonce is not an integer in [0, 2^256)", {"field": "nonce"}),
        (lambda: require_fields([], {"a"}, what="body"), "body is not a JSON object", {"field": "body"}),
        (
            lambda: require_fields({"a": 1, "y": 2, "x": 3}, {"a"}, what="request"),
            "unknown field(s) in request: x, y",
            {"fields": ["x", "y"]},
        ),
        (
            lambda: require_fields({}, {"b", "a"}, what="body"),
            "missing field(s) in body: a, b",
            {"fields": ["a", "b"]},
        ),
    ],
)
def test_invalid_requests(refused: Callable[[], Any], message: str, details: dict) -> None:
    with pytest.raises(InvalidRequest) as caught:
        refused()
    error = caught.value
    assert (error.code, str(error), error.details) == ("invalid_request", message, details)


@pytest.mark.parametrize(
    ("refused", "message"),
    [
        (lambda: parse_signature("0x12"), "the signature is not 0x and 130 hex digits"),
        (lambda: parse_signature(b"\x01" * 65), "the signature is not 0x and 130 hex digits"),
        (lambda: parse_signature(R + "11" * 32 + "1d"), "the signature's v is not 0, 1, 27 or 28"),
        (lambda: parse_signature(R + "11" * 32 + "02"), "the signature's v is not 0, 1, 27 or 28"),
        (
            lambda: parse_signature(R + "00" * 32 + "1b"),
            "the signature's s is zero or high (EIP-2: s <= n/2)",
        ),
        (
            lambda: parse_signature(R + "ff" * 32 + "1b"),
            "the signature's s is zero or high (EIP-2: s <= n/2)",
        ),
        (
            lambda: parse_signature(R + "ff" * 32 + "00"),
            "the signature's s is zero or high (EIP-2: s <= n/2)",
        ),
        (
            lambda: recover_digest_signer(bytes(32), "0x" + "ff" * 32 + "00" * 31 + "011b"),
            "the signature does not recover to any account",
        ),
    ],
)
def test_invalid_signatures(refused: Callable[[], Any], message: str) -> None:
    with pytest.raises(InvalidSignature) as caught:
        refused()
    assert (caught.value.code, str(caught.value)) == ("invalid_signature", message)


def test_refusals_share_one_root_and_are_value_errors() -> None:
    assert AuthError.code == "auth_error"
    for error in (InvalidRequest, InvalidSignature):
        assert issubclass(error, AuthError) and issubclass(error, ValueError)


def test_accepted_values_come_back_normalized() -> None:
    assert parse_address(MARKET, "market") == MARKET
    assert parse_bytes32("0x" + "AB" * 32, "orderTx") == "0x" + "ab" * 32
    assert parse_address(MARKET.lower(), "market") == MARKET
    assert parse_address(MARKET.upper().replace("0X", "0x"), "market") == MARKET
    assert parse_uint(2**8 - 1, "serviceId", 8) == 255
    assert parse_uint("255", "serviceId", 8) == 255
    assert parse_uint("0", "serviceId", 8) == 0
    assert parse_uint(str(2**256 - 1), "nonce", 256) == 2**256 - 1
    require_fields({"a": 1, "b": 2}, {"a"}, frozenset({"b"}), what="body")
    signature = R + "22" * 32 + "1c"
    assert parse_signature(signature) == bytes.fromhex(signature[2:])
    assert parse_signature(R + "22" * 32 + "01") == bytes.fromhex(signature[2:])  # v 1 is v 28
    assert parse_signature(R + "22" * 32 + "00") == bytes.fromhex(signature[2:-2] + "1b")  # v 0 is v 27
