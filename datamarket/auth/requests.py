"""The provider's signed request types (docs/data-path.md, docs/compute.md).

``AccessRequest``, what a consumer signs to get a dataset's key (one line in the type string)::

    AccessRequest(address datatoken,address consumer,uint8 serviceId,bytes32 orderTx,
                  uint64 orderId,bytes32 consumerKey,uint256 nonce)

``orderTx`` is the transaction that holds the order and ``orderId`` the id of its ``OrderStarted``:
one transaction may hold several orders (a contract ordering for many consumers), each its own.

``ComputeRequest``, what a consumer signs to start a job, under the same domain::

    ComputeRequest(address datatoken,address consumer,uint8 serviceId,bytes32 orderTx,
                   uint64 orderId,bytes32 consumerKey,bytes32 jobHash,uint256 nonce)

where ``jobHash`` is the hash of the job's spec (:mod:`datamarket.jobs.spec`). Each type only declares
its fields; signing, recovery and verification are :class:`~datamarket.auth.eip712.SignedRequest`'s.
The functions below are the same operations under the names callers use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from datamarket.auth.eip712 import SignedRequest

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


@dataclass(frozen=True)
class AccessRequest(SignedRequest):
    """What a consumer signs to get a dataset's content key re-wrapped to ``consumer_key``."""

    PRIMARY_TYPE: ClassVar[str] = "AccessRequest"
    TYPES: ClassVar[dict[str, list[dict[str, str]]]] = ACCESS_TYPES

    datatoken: str
    consumer: str
    service_id: int
    order_tx: str
    order_id: int
    consumer_key: str
    nonce: int


@dataclass(frozen=True)
class ComputeRequest(SignedRequest):
    """What a consumer signs to have a job run on a dataset, its result wrapped to ``consumer_key``."""

    PRIMARY_TYPE: ClassVar[str] = "ComputeRequest"
    TYPES: ClassVar[dict[str, list[dict[str, str]]]] = COMPUTE_TYPES

    datatoken: str
    consumer: str
    service_id: int
    order_tx: str
    order_id: int
    consumer_key: str
    job_hash: str
    nonce: int


# The operations of SignedRequest, by the names of each request type.
access_digest = compute_digest = SignedRequest.digest
sign_access_request = sign_compute_request = SignedRequest.sign
recover_access_signer = recover_compute_signer = SignedRequest.signer
verify_access_signature = verify_compute_signature = SignedRequest.verify


__all__ = [
    "ACCESS_TYPES",
    "COMPUTE_TYPES",
    "AccessRequest",
    "ComputeRequest",
    "access_digest",
    "compute_digest",
    "recover_access_signer",
    "recover_compute_signer",
    "sign_access_request",
    "sign_compute_request",
    "verify_access_signature",
    "verify_compute_signature",
]
