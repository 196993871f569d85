"""Signed provider requests: the request types (:mod:`.requests`), EIP-712 and the signed-request base
(:mod:`.eip712`), and their strict wire form (:mod:`.wire`). A compute job's spec and hash are
:mod:`datamarket.jobs.spec`."""

from datamarket.auth.eip712 import (
    DOMAIN_NAME,
    DOMAIN_VERSION,
    SignedRequest,
    domain,
    recover_digest_signer,
    sign_digest,
    typed_digest,
)
from datamarket.auth.requests import (
    ACCESS_TYPES,
    COMPUTE_TYPES,
    AccessRequest,
    ComputeRequest,
    access_digest,
    compute_digest,
    recover_access_signer,
    recover_compute_signer,
    sign_access_request,
    sign_compute_request,
    verify_access_signature,
    verify_compute_signature,
)
from datamarket.auth.wire import (
    AuthError,
    InvalidRequest,
    InvalidSignature,
    parse_address,
    parse_bytes32,
    parse_signature,
    parse_uint,
    require_fields,
)

__all__ = [
    "ACCESS_TYPES",
    "COMPUTE_TYPES",
    "DOMAIN_NAME",
    "DOMAIN_VERSION",
    "AccessRequest",
    "AuthError",
    "ComputeRequest",
    "InvalidRequest",
    "InvalidSignature",
    "SignedRequest",
    "access_digest",
    "compute_digest",
    "domain",
    "parse_address",
    "parse_bytes32",
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
]
