"""The wire form of signed requests: strict parsing of JSON fields and signatures, and the errors.

What a wallet's ``eth_signTypedData_v4`` message carries is accepted as it is:

- an address in any case: all lower-case or all upper-case hex is checksummed (EIP-55) here; mixed
  case must be a valid EIP-55 checksum (a mis-typed one could silently name another account). Parsed
  addresses are always checksummed.
- a ``uintN`` as a JSON integer or a decimal string ``^(0|[1-9][0-9]*)$`` (no sign, no leading zero,
  no exponent), in range; parsed, it is an ``int``.
- ``bytes32`` as ``0x`` + 64 hex digits, kept in lower case.
- a signature of 65 bytes ``r || s || v`` in ``0x`` hex, v 27 or 28 (or 0 or 1, normalised to 27 or
  28), with a low s (EIP-2), so each request has exactly one valid signature per signer.

A JSON object holds exactly the fields asked for. Every refusal is an :class:`InvalidRequest` naming the
field in ``details``, or an :class:`InvalidSignature`.
"""

from __future__ import annotations

import re
from typing import Any

from eth_keys.constants import SECPK1_N
from eth_utils import is_checksum_address, to_checksum_address

from datamarket.errors import DatamarketError

_BYTES32 = re.compile(r"0x[0-9a-fA-F]{64}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_SIGNATURE = re.compile(r"0x[0-9a-fA-F]{130}")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
#: 2^256 has 78 decimal digits: a longer string is refused before it is read.
_MAX_DECIMAL_DIGITS = 78


class AuthError(DatamarketError):
    code = "auth_error"


class InvalidRequest(AuthError, ValueError):
    """A request that is not well formed; ``details["field"]`` names the offending field."""

    code = "invalid_request"


class InvalidSignature(AuthError, ValueError):
    """A signature that is malformed or was not made by the account the request names."""

    code = "invalid_signature"


def parse_address(value: Any, field: str) -> str:
    """The checksummed (EIP-55) form of an address given in any case, or InvalidRequest. All lower-case
    or all upper-case hex carries no checksum and is checksummed here; mixed case is a checksum and
    must be a valid one, so that a typo cannot silently name another account."""
    if not isinstance(value, str) or _ADDRESS.fullmatch(value) is None:
        raise InvalidRequest(f"{field} is not an address (0x and 40 hex digits)", details={"field": field})
    digits = value[2:]
    if digits == digits.lower() or digits == digits.upper():
        return to_checksum_address(value)
    if not is_checksum_address(value):
        raise InvalidRequest(f"{field} is not a valid EIP-55 checksum", details={"field": field})
    return value


def parse_bytes32(value: Any, field: str) -> str:
    """``0x`` + 64 hex digits, returned in lower case."""
    if not isinstance(value, str) or _BYTES32.fullmatch(value) is None:
        raise InvalidRequest(f"{field} is not 0x and 64 hex digits", details={"field": field})
    return value.lower()


def parse_uint(value: Any, field: str, bits: int) -> int:
    """A ``uint<bits>`` given as a JSON integer or as a decimal string (``"0"``, ``"42"``: no sign, no
    leading zero, no exponent, no spaces), returned as an ``int``."""
    if isinstance(value, str):
        if len(value) > _MAX_DECIMAL_DIGITS or _DECIMAL.fullmatch(value) is None:
            raise InvalidRequest(
                f"{field} is not a decimal string (digits, no sign, no leading zero)",
                details={"field": field},
            )
        value = int(value)
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
    """A 65-byte ``0x`` hex signature ``r || s || v`` with a low s, returned with v 27 or 28: a v of 0
    or 1 (what some signers write) is read as 27 or 28."""
    if not isinstance(value, str) or _SIGNATURE.fullmatch(value) is None:
        raise InvalidSignature("the signature is not 0x and 130 hex digits")
    raw = bytes.fromhex(value[2:])
    s, v = int.from_bytes(raw[32:64], "big"), raw[64]
    if v not in (0, 1, 27, 28):
        raise InvalidSignature("the signature's v is not 0, 1, 27 or 28")
    if not 0 < s <= SECPK1_N // 2:
        raise InvalidSignature("the signature's s is zero or high (EIP-2: s <= n/2)")
    return raw[:64] + bytes([v if v >= 27 else v + 27])


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
