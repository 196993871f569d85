"""EIP-712 for the provider's signed requests: the domain, the digest, and :class:`SignedRequest`, the
base of every request type, which signs, recovers and verifies once for all of them.

Domain ``{"name": "Datamarket Provider", "version": "1", "chainId", "verifyingContract": <market>}``.
Signing and recovery go through eth-keys with its coincurve backend named explicitly (libsecp256k1,
constant time), never the pure Python fallback. Signatures are 65 bytes ``r || s || v`` with a low s;
v is 27 or 28 (0 or 1 is accepted and read as 27 or 28).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, ClassVar, Self

from eth_account.messages import encode_typed_data
from eth_keys import KeyAPI
from eth_keys.backends import CoinCurveECCBackend
from eth_keys.exceptions import BadSignature, ValidationError
from eth_utils import keccak

from datamarket.auth.wire import (
    InvalidSignature,
    parse_address,
    parse_bytes32,
    parse_signature,
    parse_uint,
    require_fields,
)

DOMAIN_NAME = "Datamarket Provider"
DOMAIN_VERSION = "1"


def domain(chain_id: int, market: str) -> dict[str, Any]:
    return {
        "name": DOMAIN_NAME,
        "version": DOMAIN_VERSION,
        "chainId": chain_id,
        "verifyingContract": parse_address(market, "market"),
    }


def typed_digest(
    types: dict[str, list[dict[str, str]]],
    primary_type: str,
    message: dict[str, Any],
    chain_id: int,
    market: str,
) -> bytes:
    """The 32-byte EIP-712 digest (keccak256 of 0x1901 || domain separator || struct hash) of
    ``message``, of type ``primary_type`` in ``types``, under the provider domain."""
    if primary_type not in types:
        raise ValueError(f"{primary_type} is not one of the given types")
    signable = encode_typed_data(
        domain_data=domain(chain_id, market), message_types=types, message_data=message
    )
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


@cache
def _keys() -> KeyAPI:
    return KeyAPI(CoinCurveECCBackend())


def sign_digest(digest: bytes, private_key: bytes | str) -> bytes:
    """A 65-byte signature (``r || s || v``, v in {27, 28}, low s) of a 32-byte digest."""
    if isinstance(private_key, str):
        private_key = bytes.fromhex(private_key.removeprefix("0x"))
    signature = _keys().PrivateKey(bytes(private_key)).sign_msg_hash(digest)
    return signature.to_bytes()[:64] + bytes([signature.v + 27])


def recover_digest_signer(digest: bytes, signature: bytes | str) -> str:
    """The checksummed address whose key made ``signature`` over ``digest``; InvalidSignature for a
    malformed signature or one that recovers to no account."""
    raw = parse_signature(signature if isinstance(signature, str) else "0x" + bytes(signature).hex())
    try:
        sig = _keys().Signature(raw[:64] + bytes([raw[64] - 27]))
        public = sig.recover_public_key_from_msg_hash(digest)
    except (BadSignature, ValidationError):
        raise InvalidSignature("the signature does not recover to any account") from None
    return public.to_checksum_address()


def _attribute(name: str) -> str:
    """The attribute that holds the EIP-712 (and JSON) field ``name``: ``serviceId`` -> ``service_id``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class SignedRequest:
    """The base of every signed request. A request type is a frozen dataclass whose fields are those of
    its EIP-712 type (``TYPES[PRIMARY_TYPE]``), in the same order, in snake_case; the JSON form names them
    as the type does (camelCase), and ``consumer`` is the account that must have signed it. Every field
    is checked and normalised in ``__post_init__``: addresses (any case) stored checksummed, ``uintN``
    (a JSON integer or a decimal string) stored as an ``int`` in range, ``bytes32`` stored in lower case;
    InvalidRequest names the field in ``details["field"]``. So the ``message`` of a wallet's
    ``eth_signTypedData_v4`` payload (lower-case addresses, integers as decimal strings) is a valid JSON
    form of the request, and signs to the same digest. Digest, signing, recovery and
    verification are written here once."""

    PRIMARY_TYPE: ClassVar[str]
    TYPES: ClassVar[dict[str, list[dict[str, str]]]]
    consumer: str  # every request type has one (this base is no dataclass)
    consumer_key: str

    @classmethod
    def _fields(cls) -> list[tuple[str, str, str]]:
        """(attribute, JSON name, EIP-712 type) of each field, in the type's order."""
        return [(_attribute(f["name"]), f["name"], f["type"]) for f in cls.TYPES[cls.PRIMARY_TYPE]]

    def __post_init__(self) -> None:
        # Constructed in code or from JSON, a request is always valid.
        for attribute, name, kind in self._fields():
            value = getattr(self, attribute)
            if kind == "address":
                parsed = parse_address(value, name)
            elif kind == "bytes32":
                parsed = parse_bytes32(value, name)
            elif kind.startswith("uint"):
                parsed = parse_uint(value, name, int(kind.removeprefix("uint")))
            else:
                raise TypeError(f"no parser for the EIP-712 type {kind} of {name}")
            object.__setattr__(self, attribute, parsed)

    @classmethod
    def from_json(cls, data: Any) -> Self:
        fields = cls._fields()
        require_fields(data, {name for _, name, _ in fields}, what="request")
        return cls(**{attribute: data[name] for attribute, name, _ in fields})

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, attribute) for attribute, name, _ in self._fields()}

    @property
    def consumer_key_bytes(self) -> bytes:
        return bytes.fromhex(self.consumer_key[2:])

    def message(self) -> dict[str, Any]:
        """The EIP-712 message: the JSON form, its bytes32 fields as bytes."""
        m = self.to_json()
        for _, name, kind in self._fields():
            if kind == "bytes32":
                m[name] = bytes.fromhex(m[name][2:])
        return m

    def digest(self, chain_id: int, market: str) -> bytes:
        """The 32-byte EIP-712 digest of this request under the provider domain."""
        return typed_digest(self.TYPES, self.PRIMARY_TYPE, self.message(), chain_id, market)

    def sign(self, private_key: bytes | str, chain_id: int, market: str) -> bytes:
        """The consumer's 65-byte signature (``r || s || v``, v in {27, 28}) over this request."""
        return sign_digest(self.digest(chain_id, market), private_key)

    def signer(self, signature: bytes | str, chain_id: int, market: str) -> str:
        """The checksummed address that signed this request for this chain and market.

        A signature made for another chain id or market recovers to some other address, which the
        caller compares with ``consumer``; malformed signatures raise :class:`InvalidSignature`.
        """
        return recover_digest_signer(self.digest(chain_id, market), signature)

    def verify(self, signature: bytes | str, chain_id: int, market: str) -> None:
        """InvalidSignature unless ``consumer`` signed this request for this chain and market."""
        if self.signer(signature, chain_id, market) != self.consumer:
            raise InvalidSignature("the request was not signed by its consumer for this chain and market")


__all__ = [
    "DOMAIN_NAME",
    "DOMAIN_VERSION",
    "SignedRequest",
    "domain",
    "recover_digest_signer",
    "sign_digest",
    "typed_digest",
]
