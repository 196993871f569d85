"""Signed provider requests: the EIP-712 ``AccessRequest`` a consumer signs to get a dataset's key.

Domain ``{"name": "Datamarket Provider", "version": "1", "chainId", "verifyingContract": <market>}``
and type (one line in the type string)::

    AccessRequest(address datatoken,address consumer,uint8 serviceId,bytes32 orderTx,
                  bytes32 consumerKey,uint256 nonce)

The JSON form (camelCase) is parsed strictly: exactly these fields, checksummed addresses, bytes32
as ``0x`` + 64 hex digits, integers that are JSON integers in range. Signing and recovery go through
eth-keys with its coincurve backend named explicitly (libsecp256k1, constant time), never the pure
Python fallback. Signatures are 65 bytes ``r || s || v`` with v 27 or 28 and a low s (EIP-2), so
each request has exactly one valid signature per signer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_account.messages import encode_typed_data
from eth_keys import KeyAPI
from eth_keys.backends import CoinCurveECCBackend
from eth_keys.constants import SECPK1_N
from eth_keys.exceptions import BadSignature, ValidationError
from eth_utils import is_checksum_address, keccak

from datamarket.errors import DatamarketError

DOMAIN_NAME = "Datamarket Provider"
DOMAIN_VERSION = "1"

ACCESS_TYPES = {
    "AccessRequest": [
        {"name": "datatoken", "type": "address"},
        {"name": "consumer", "type": "address"},
        {"name": "serviceId", "type": "uint8"},
        {"name": "orderTx", "type": "bytes32"},
        {"name": "consumerKey", "type": "bytes32"},
        {"name": "nonce", "type": "uint256"},
    ]
}

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


# ---------------------------------------------------------------------------------------- parsing


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


# ---------------------------------------------------------------------------------------- request


@dataclass(frozen=True)
class AccessRequest:
    """What a consumer signs to get a dataset's content key re-wrapped to ``consumer_key``."""

    datatoken: str
    consumer: str
    service_id: int
    order_tx: str
    consumer_key: str
    nonce: int

    def __post_init__(self) -> None:
        # Constructed in code or from JSON, an AccessRequest is always valid.
        parse_address(self.datatoken, "datatoken")
        parse_address(self.consumer, "consumer")
        parse_uint(self.service_id, "serviceId", 8)
        object.__setattr__(self, "order_tx", parse_bytes32(self.order_tx, "orderTx"))
        object.__setattr__(self, "consumer_key", parse_bytes32(self.consumer_key, "consumerKey"))
        parse_uint(self.nonce, "nonce", 256)

    @classmethod
    def from_json(cls, data: Any) -> AccessRequest:
        names = {f["name"] for f in ACCESS_TYPES["AccessRequest"]}
        require_fields(data, names, what="request")
        return cls(
            datatoken=data["datatoken"],
            consumer=data["consumer"],
            service_id=data["serviceId"],
            order_tx=data["orderTx"],
            consumer_key=data["consumerKey"],
            nonce=data["nonce"],
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "datatoken": self.datatoken,
            "consumer": self.consumer,
            "serviceId": self.service_id,
            "orderTx": self.order_tx,
            "consumerKey": self.consumer_key,
            "nonce": self.nonce,
        }

    @property
    def consumer_key_bytes(self) -> bytes:
        return bytes.fromhex(self.consumer_key[2:])

    def message(self) -> dict[str, Any]:
        """The EIP-712 message."""
        m = self.to_json()
        m["orderTx"] = bytes.fromhex(self.order_tx[2:])
        m["consumerKey"] = self.consumer_key_bytes
        return m


def domain(chain_id: int, market: str) -> dict[str, Any]:
    return {
        "name": DOMAIN_NAME,
        "version": DOMAIN_VERSION,
        "chainId": chain_id,
        "verifyingContract": parse_address(market, "market"),
    }


def access_digest(req: AccessRequest, chain_id: int, market: str) -> bytes:
    """The 32-byte EIP-712 digest (keccak256 of 0x1901 || domain separator || struct hash)."""
    signable = encode_typed_data(
        domain_data=domain(chain_id, market), message_types=ACCESS_TYPES, message_data=req.message()
    )
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


@cache
def _keys() -> KeyAPI:
    return KeyAPI(CoinCurveECCBackend())


def sign_access_request(req: AccessRequest, private_key: bytes | str, chain_id: int, market: str) -> bytes:
    """The consumer's 65-byte signature (``r || s || v``, v in {27, 28}) over ``req``."""
    if isinstance(private_key, str):
        private_key = bytes.fromhex(private_key.removeprefix("0x"))
    raw = bytes(private_key)
    signature = _keys().PrivateKey(raw).sign_msg_hash(access_digest(req, chain_id, market))
    return signature.to_bytes()[:64] + bytes([signature.v + 27])


def recover_access_signer(req: AccessRequest, signature: bytes | str, chain_id: int, market: str) -> str:
    """The checksummed address that signed ``req`` for this chain and market.

    A signature made for another chain id or market recovers to some other address, which the
    caller compares with ``req.consumer``; malformed signatures raise :class:`InvalidSignature`.
    """
    raw = parse_signature(signature if isinstance(signature, str) else "0x" + bytes(signature).hex())
    try:
        sig = _keys().Signature(raw[:64] + bytes([raw[64] - 27]))
        public = sig.recover_public_key_from_msg_hash(access_digest(req, chain_id, market))
    except (BadSignature, ValidationError):
        raise InvalidSignature("the signature does not recover to any account") from None
    return public.to_checksum_address()


def verify_access_signature(req: AccessRequest, signature: bytes | str, chain_id: int, market: str) -> None:
    """InvalidSignature unless ``req.consumer`` signed ``req`` for this chain and market."""
    if recover_access_signer(req, signature, chain_id, market) != req.consumer:
        raise InvalidSignature("the request was not signed by its consumer for this chain and market")


__all__ = [
    "ACCESS_TYPES",
    "AccessRequest",
    "AuthError",
    "InvalidRequest",
    "InvalidSignature",
    "access_digest",
    "domain",
    "parse_address",
    "parse_bytes32",
    "parse_signature",
    "parse_uint",
    "recover_access_signer",
    "require_fields",
    "sign_access_request",
    "verify_access_signature",
]
