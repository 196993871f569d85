"""Signed provider requests: the EIP-712 ``AccessRequest`` a consumer signs to get a dataset's key.

Domain ``{"name": "Datamarket Provider", "version": "1", "chainId", "verifyingContract": <market>}``
and type (one line in the type string)::

    AccessRequest(address datatoken,address consumer,uint8 serviceId,bytes32 orderTx,
                  uint64 orderId,bytes32 consumerKey,uint256 nonce)

``orderTx`` is the transaction that holds the order and ``orderId`` the id of its ``OrderStarted``:
one transaction may hold several orders (a contract ordering for many consumers), each its own.

The JSON form (camelCase) is parsed strictly: exactly these fields, checksummed addresses, bytes32
as ``0x`` + 64 hex digits, integers that are JSON integers in range. Signing and recovery go through
eth-keys with its coincurve backend named explicitly (libsecp256k1, constant time), never the pure
Python fallback. Signatures are 65 bytes ``r || s || v`` with v 27 or 28 and a low s (EIP-2), so
each request has exactly one valid signature per signer.

A compute job is asked for with a ``ComputeRequest`` under the same domain (docs/compute.md)::

    ComputeRequest(address datatoken,address consumer,uint8 serviceId,bytes32 orderTx,
                   uint64 orderId,bytes32 consumerKey,bytes32 jobHash,uint256 nonce)

where ``jobHash`` is the sha256 of the job's canonical JSON (:func:`job_hash`), and the job itself is
parsed strictly by :func:`parse_job_spec`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar, Self

from eth_account.messages import encode_typed_data
from eth_keys import KeyAPI
from eth_keys.backends import CoinCurveECCBackend
from eth_keys.constants import SECPK1_N
from eth_keys.exceptions import BadSignature, ValidationError
from eth_utils import is_checksum_address, keccak

from datamarket.errors import DatamarketError
from datamarket.output_spec import parse_output_spec
from datamarket.storage.base import InvalidCID
from datamarket.storage.cid import CID

DOMAIN_NAME = "Datamarket Provider"
DOMAIN_VERSION = "1"

ACCESS_TYPES = {
    "AccessRequest": [
        {"name": "datatoken", "type": "address"},
        {"name": "consumer", "type": "address"},
        {"name": "serviceId", "type": "uint8"},
        {"name": "orderTx", "type": "bytes32"},
        {"name": "orderId", "type": "uint64"},
        {"name": "consumerKey", "type": "bytes32"},
        {"name": "nonce", "type": "uint256"},
    ]
}

COMPUTE_TYPES = {
    "ComputeRequest": [
        {"name": "datatoken", "type": "address"},
        {"name": "consumer", "type": "address"},
        {"name": "serviceId", "type": "uint8"},
        {"name": "orderTx", "type": "bytes32"},
        {"name": "orderId", "type": "uint64"},
        {"name": "consumerKey", "type": "bytes32"},
        {"name": "jobHash", "type": "bytes32"},
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


def _attribute(name: str) -> str:
    """The attribute that holds the EIP-712 (and JSON) field ``name``: ``serviceId`` -> ``service_id``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class _SignedRequest:
    """What :class:`AccessRequest` and :class:`ComputeRequest` share. Each is a frozen dataclass whose
    fields are those of its EIP-712 type (``_TYPES[_PRIMARY_TYPE]``), in the same order, in snake_case;
    the JSON form names them as the type does (camelCase). Every field is checked in ``__post_init__``:
    addresses checksummed, ``uintN`` in range, ``bytes32`` stored in lower case; InvalidRequest names the
    field in ``details["field"]``."""

    _PRIMARY_TYPE: ClassVar[str]
    _TYPES: ClassVar[dict[str, list[dict[str, str]]]]
    consumer_key: str  # a field of both (declared here for consumer_key_bytes; this class is no dataclass)

    @classmethod
    def _fields(cls) -> list[tuple[str, str, str]]:
        """(attribute, JSON name, EIP-712 type) of each field, in the type's order."""
        return [(_attribute(f["name"]), f["name"], f["type"]) for f in cls._TYPES[cls._PRIMARY_TYPE]]

    def __post_init__(self) -> None:
        # Constructed in code or from JSON, a request is always valid.
        for attribute, name, kind in self._fields():
            value = getattr(self, attribute)
            if kind == "address":
                parse_address(value, name)
            elif kind == "bytes32":
                object.__setattr__(self, attribute, parse_bytes32(value, name))
            elif kind.startswith("uint"):
                parse_uint(value, name, int(kind.removeprefix("uint")))
            else:
                raise TypeError(f"no parser for the EIP-712 type {kind} of {name}")

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


@dataclass(frozen=True)
class AccessRequest(_SignedRequest):
    """What a consumer signs to get a dataset's content key re-wrapped to ``consumer_key``."""

    _PRIMARY_TYPE: ClassVar[str] = "AccessRequest"
    _TYPES: ClassVar[dict[str, list[dict[str, str]]]] = ACCESS_TYPES

    datatoken: str
    consumer: str
    service_id: int
    order_tx: str
    order_id: int
    consumer_key: str
    nonce: int


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


def access_digest(req: AccessRequest, chain_id: int, market: str) -> bytes:
    """The 32-byte EIP-712 digest (keccak256 of 0x1901 || domain separator || struct hash)."""
    return typed_digest(ACCESS_TYPES, "AccessRequest", req.message(), chain_id, market)


def sign_access_request(req: AccessRequest, private_key: bytes | str, chain_id: int, market: str) -> bytes:
    """The consumer's 65-byte signature (``r || s || v``, v in {27, 28}) over ``req``."""
    return sign_digest(access_digest(req, chain_id, market), private_key)


def recover_access_signer(req: AccessRequest, signature: bytes | str, chain_id: int, market: str) -> str:
    """The checksummed address that signed ``req`` for this chain and market.

    A signature made for another chain id or market recovers to some other address, which the
    caller compares with ``req.consumer``; malformed signatures raise :class:`InvalidSignature`.
    """
    return recover_digest_signer(access_digest(req, chain_id, market), signature)


def verify_access_signature(req: AccessRequest, signature: bytes | str, chain_id: int, market: str) -> None:
    """InvalidSignature unless ``req.consumer`` signed ``req`` for this chain and market."""
    if recover_access_signer(req, signature, chain_id, market) != req.consumer:
        raise InvalidSignature("the request was not signed by its consumer for this chain and market")


# ---------------------------------------------------------------------------------------- compute


@dataclass(frozen=True)
class ComputeRequest(_SignedRequest):
    """What a consumer signs to have a job run on a dataset, its result wrapped to ``consumer_key``."""

    _PRIMARY_TYPE: ClassVar[str] = "ComputeRequest"
    _TYPES: ClassVar[dict[str, list[dict[str, str]]]] = COMPUTE_TYPES

    datatoken: str
    consumer: str
    service_id: int
    order_tx: str
    order_id: int
    consumer_key: str
    job_hash: str
    nonce: int


def compute_digest(req: ComputeRequest, chain_id: int, market: str) -> bytes:
    """The 32-byte EIP-712 digest of a compute request."""
    return typed_digest(COMPUTE_TYPES, "ComputeRequest", req.message(), chain_id, market)


def sign_compute_request(req: ComputeRequest, private_key: bytes | str, chain_id: int, market: str) -> bytes:
    """The consumer's 65-byte signature (``r || s || v``, v in {27, 28}) over ``req``."""
    return sign_digest(compute_digest(req, chain_id, market), private_key)


def recover_compute_signer(req: ComputeRequest, signature: bytes | str, chain_id: int, market: str) -> str:
    """The checksummed address that signed ``req`` for this chain and market (see
    :func:`recover_access_signer`)."""
    return recover_digest_signer(compute_digest(req, chain_id, market), signature)


def verify_compute_signature(req: ComputeRequest, signature: bytes | str, chain_id: int, market: str) -> None:
    """InvalidSignature unless ``req.consumer`` signed ``req`` for this chain and market."""
    if recover_compute_signer(req, signature, chain_id, market) != req.consumer:
        raise InvalidSignature("the request was not signed by its consumer for this chain and market")


# -------------------------------------------------------------------------------------------- job

MAX_PARAMS_BYTES = 16 * 1024
MAX_PARAMS_DEPTH = 32
ENVIRONMENTS = ("cpu", "gpu")
ALGORITHM_NAME = re.compile(r"[a-z0-9_]{1,64}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_MAX_CID_CHARS = 128


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8, no NaN or infinity: one byte string per JSON value."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def job_hash(job: dict[str, Any]) -> str:
    """``0x`` + the sha256 (hex) of the job's canonical JSON: the request's ``jobHash``."""
    return "0x" + hashlib.sha256(canonical_json(job)).hexdigest()


def verify_job_hash(req: ComputeRequest, job: dict[str, Any]) -> None:
    """InvalidRequest (field ``jobHash``) unless ``req`` names exactly this job."""
    if job_hash(job) != req.job_hash:
        raise InvalidRequest(
            "the request's jobHash is not the sha256 of the job", details={"field": "jobHash"}
        )


def parse_job_spec(data: Any) -> dict[str, Any]:
    """The job object of ``POST /compute``, checked strictly, returned as an equal new dict (same
    values, same types, so its :func:`job_hash` is the one the consumer signed)::

        {"algorithm": "<built-in name>" | {"bundle": "<CID>", "sha256": "<64 hex>"},
         "params": {...}, "epsilon": <number >= 0> | null, "environment": "cpu" | "gpu",
         "output": <datamarket.output_spec> | null}

    Every field but ``output`` is required; InvalidRequest names the offending one in
    ``details["field"]`` (InvalidOutputSpec for a malformed ``output``). ``output`` is kept only where
    it was sent, so a job without it hashes as before it existed.
    """
    if not isinstance(data, dict):
        raise InvalidRequest("job is not a JSON object", details={"field": "job"})
    fields = {"algorithm", "params", "epsilon", "environment"}
    known = fields | {"output"}
    for problem, names in (("unknown", sorted(set(data) - known)), ("missing", sorted(fields - set(data)))):
        if names:
            raise InvalidRequest(
                f"{problem} field(s) in job: {', '.join(map(str, names))}",
                details={"field": f"job.{names[0]}", "fields": names},
            )
    parsed = {
        "algorithm": _parse_algorithm(data["algorithm"]),
        "params": _parse_params(data["params"]),
        "epsilon": _parse_epsilon(data["epsilon"]),
        "environment": _parse_environment(data["environment"]),
    }
    if "output" in data:
        parsed["output"] = None if data["output"] is None else parse_output_spec(data["output"])
    return parsed


def _parse_algorithm(value: Any) -> str | dict[str, str]:
    if isinstance(value, str):
        if ALGORITHM_NAME.fullmatch(value) is None:
            raise InvalidRequest(
                "job.algorithm is not a built-in name ([a-z0-9_], 1 to 64 characters)",
                details={"field": "job.algorithm"},
            )
        return value
    if not isinstance(value, dict):
        raise InvalidRequest(
            'job.algorithm is neither a name nor {"bundle", "sha256"}', details={"field": "job.algorithm"}
        )
    if set(value) != {"bundle", "sha256"}:
        raise InvalidRequest(
            "job.algorithm has exactly the fields bundle and sha256", details={"field": "job.algorithm"}
        )
    cid, digest = value["bundle"], value["sha256"]
    if (
        not isinstance(cid, str)
        or not 0 < len(cid) <= _MAX_CID_CHARS
        or not cid.isascii()
        or not cid.isalnum()
    ):
        raise InvalidRequest("job.algorithm.bundle is not a CID", details={"field": "job.algorithm.bundle"})
    try:
        CID.parse(cid)
    except (InvalidCID, ValueError):
        raise InvalidRequest(
            "job.algorithm.bundle is not a CID", details={"field": "job.algorithm.bundle"}
        ) from None
    if not isinstance(digest, str) or _SHA256_HEX.fullmatch(digest) is None:
        raise InvalidRequest(
            "job.algorithm.sha256 is not 64 lower-case hex digits", details={"field": "job.algorithm.sha256"}
        )
    return {"bundle": cid, "sha256": digest}


def _parse_params(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRequest("job.params is not a JSON object", details={"field": "job.params"})
    _check_json(value, "job.params", 0)
    try:
        raw = canonical_json(value)
    except (ValueError, UnicodeEncodeError):  # an integer too long to print, a lone surrogate
        raise InvalidRequest("job.params is not serializable JSON", details={"field": "job.params"}) from None
    if len(raw) > MAX_PARAMS_BYTES:
        raise InvalidRequest(
            f"job.params is larger than {MAX_PARAMS_BYTES} bytes as canonical JSON",
            details={"field": "job.params"},
        )
    return json.loads(raw)


def _check_json(value: Any, where: str, depth: int) -> None:
    """A JSON value: objects with string keys, lists, strings, finite numbers, booleans, null."""
    if depth > MAX_PARAMS_DEPTH:
        raise InvalidRequest(f"{where} is nested too deeply", details={"field": "job.params"})
    if value is None or isinstance(value, bool | int):
        return
    if isinstance(value, str):
        _check_text(value, where)
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidRequest(f"{where} is not a finite number", details={"field": "job.params"})
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_json(item, f"{where}[{i}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidRequest(
                    f"{where} has a key that is not a string", details={"field": "job.params"}
                )
            _check_text(key, where)
            _check_json(item, f"{where}.{key}", depth + 1)
        return
    raise InvalidRequest(f"{where} is not a JSON value", details={"field": "job.params"})


def _check_text(value: str, where: str) -> None:
    try:
        value.encode()
    except UnicodeEncodeError:
        raise InvalidRequest(
            f"{where} holds a string that is not UTF-8", details={"field": "job.params"}
        ) from None


def _parse_epsilon(value: Any) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest("job.epsilon is not a number or null", details={"field": "job.epsilon"})
    if value < 0 or (isinstance(value, float) and not math.isfinite(value)):
        raise InvalidRequest("job.epsilon is not a finite number >= 0", details={"field": "job.epsilon"})
    return value


def _parse_environment(value: Any) -> str:
    if value not in ENVIRONMENTS:
        raise InvalidRequest(
            'job.environment is neither "cpu" nor "gpu"', details={"field": "job.environment"}
        )
    return value


__all__ = [
    "ACCESS_TYPES",
    "ALGORITHM_NAME",
    "COMPUTE_TYPES",
    "ENVIRONMENTS",
    "MAX_PARAMS_BYTES",
    "AccessRequest",
    "AuthError",
    "ComputeRequest",
    "InvalidRequest",
    "InvalidSignature",
    "access_digest",
    "canonical_json",
    "compute_digest",
    "domain",
    "job_hash",
    "parse_address",
    "parse_bytes32",
    "parse_job_spec",
    "parse_signature",
    "parse_uint",
    "recover_access_signer",
    "recover_compute_signer",
    "recover_digest_signer",
    "require_fields",
    "sign_access_request",
    "sign_compute_request",
    "sign_digest",
    "typed_digest",
    "verify_access_signature",
    "verify_compute_signature",
    "verify_job_hash",
]
