"""The wire form of signed requests: strict parsing of JSON fields and signatures, and the errors.

Addresses must be checksummed (a mis-cased one could silently name another account), bytes32 is
``0x`` + 64 hex digits (kept in lower case), integers are JSON integers in range, a JSON object holds
exactly the fields asked for. A signature is 65 bytes ``r || s || v`` in ``0x`` hex with v 27 or 28
and a low s (EIP-2), so each request has exactly one valid signature per signer. Every refusal is an
:class:`InvalidRequest` naming the field in ``details``, or an :class:`InvalidSignature`.
"""

from __future__ import annotations

import re
from typing import Any

from eth_keys.constants import SECPK1_N
from eth_utils import is_checksum_address

from datamarket.errors import DatamarketError

_BYTES32 = re.compile(r"0x[0-9a-fA-F]{64}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_SIGNATURE = re.compile(r"0x[0-9a-fA-F]{130}")


class AuthError(DatamarketError):
    code = "auth_error"


class InvalidRequest(AuthError, ValueError):
    """A request that is not well formed; ``details["field"]`` names the offending field."""

    code = "invalid_request"


class InvalidSignature(AuthError, ValueError):
    """A signature that is malformed or was not made by the account the request names."""

    code = "invalid_signature"


def parse_address(value: Any, field: str) -> str:
    """A checksummed address, or InvalidRequest: lower-case or otherwise mis-cased input is refused
    so that a typo cannot silently name another account."""
    if not isinstance(value, str) or _ADDRESS.fullmatch(value) is None:
        raise InvalidRequest(f"{field} is not an address", details={"field": field})
    if not is_checksum_address(value):
        raise InvalidRequest(f"{field} is not a checksummed address", details={"field": field})
    return value


def parse_bytes32(value: Any, field: str) -> str:
    """``0x`` + 64 hex digits, returned in lower case."""
    if not isinstance(value, str) or _BYTES32.fullmatch(value) is None:
        raise InvalidRequest(f"{field} is not 0x and 64 hex digits", details={"field": field})
    return value.lower()


def parse_uint(value: Any, field: str, bits: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**bits:
        raise InvalidRequest(f"{field} is not an integer in [0, 2^{bits})", details={"field": field})
    return value


def require_fields(
    data: Any, required: set[str], optional: frozenset[str] = frozenset(), *, what: str
) -> None:
    """``data`` is a JSON object with every required field and nothing unknown."""
    if not isinstance(data, dict):
        raise InvalidRequest(f"{what} is not a JSON object", details={"field": what})
    unknown = sorted(set(data) - required - optional)
    if unknown:
        raise InvalidRequest(f"unknown field(s) in {what}: {', '.join(unknown)}", details={"fields": unknown})
    missing = sorted(required - set(data))
    if missing:
        raise InvalidRequest(f"missing field(s) in {what}: {', '.join(missing)}", details={"fields": missing})


def parse_signature(value: Any) -> bytes:
    """A 65-byte ``0x`` hex signature with v 27 or 28 and a low s."""
    if not isinstance(value, str) or _SIGNATURE.fullmatch(value) is None:
        raise InvalidSignature("the signature is not 0x and 130 hex digits")
    raw = bytes.fromhex(value[2:])
    s, v = int.from_bytes(raw[32:64], "big"), raw[64]
    if v not in (27, 28) or not 0 < s <= SECPK1_N // 2:
        raise InvalidSignature("the signature's v or s is out of range")
    return raw


__all__ = [
    "AuthError",
    "InvalidRequest",
    "InvalidSignature",
    "parse_address",
    "parse_bytes32",
    "parse_signature",
    "parse_uint",
    "require_fields",
]
