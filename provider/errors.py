"""The provider's errors, and the one place where errors become HTTP responses.

Every refusal is an exception with a stable ``code``; :data:`HTTP_STATUS` maps each error class to
its status and :func:`register` installs the handlers. The body is always::

    {"error": {"code": "order_expired", "message": "...", "details": {...}}}

Messages and details are written for the client: they never hold a stack trace, a secret, a file
path or a node URL. Anything unexpected becomes ``500 internal_error`` with no detail (and a log
line, with the traceback, for the operator).

ProviderError (DatamarketError)
├── BadRequest                 400  invalid_json, invalid_request, bad_request (a body not readable)
├── Unauthorized               401  unauthorized (GET /metrics without its token)
├── Forbidden                  403  dataset_not_active, not_allowlisted, not_this_provider,
│   │                               service_not_offered, service_not_downloadable
│   └── OrderRefused           403  order_reverted, not_an_order, order_not_in_tx, order_wrong_dataset,
│                                   order_wrong_service, order_wrong_consumer, order_wrong_provider
├── NotFound                   404  order_not_found, unknown_dataset, metrics_off
├── Conflict                   409  order_pending
├── OrderExpired               410  order_expired
├── Unprocessable              422  metadata_invalid, dataset_too_large (POST /compute: the document's
│                                   declared size is over max_dataset_bytes)
├── TooManyRequests            429  consumer_queue_full (Retry-After)
└── Unavailable                503  quote_nonce_unavailable, no_worker, broker_unavailable,
                                    queue_full and dataset_queue_full (Retry-After)

Errors of the kernel, mapped here too:
InvalidRequest 400 invalid_request; NonceError 400 invalid_nonce; InvalidPublicKey 400
invalid_public_key; InvalidSignature 401 invalid_signature; NonceUsed 409 nonce_used; NonceExpired
422 nonce_expired and NonceInFuture 422 nonce_in_future (outside the window of the provider's clock);
KeyUnwrapError 422 key_unwrap_failed and UnknownKey 422 unknown_key (the dataset's wrap does not
open here); InvalidMetadata 422 invalid_metadata and MetadataHashMismatch 422
metadata_hash_mismatch (the dataset's document is unusable); DocumentInvalid 422 metadata_invalid;
DocumentUnavailable 503 metadata_unavailable, store_unavailable; ChainUnavailable 503
chain_unavailable; NonceStoreUnavailable 503 nonce_store_unavailable; RateLimited 429 rate_limited
(with ``Retry-After``, whole seconds). Werkzeug's own: 404
not_found, 405 method_not_allowed, 413 request_too_large. Anything else: 500 internal_error.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from datamarket.auth import InvalidRequest, InvalidSignature
from datamarket.crypto.keys import InvalidPublicKey, KeyUnwrapError, UnknownKey
from datamarket.errors import ChainUnavailable, DatamarketError, safe_details
from datamarket.metadata.document import InvalidMetadata, MetadataHashMismatch
from datamarket.metadata.resolve import DocumentInvalid, DocumentUnavailable
from datamarket.output_spec import InvalidOutputSpec
from datamarket.ratelimit import RateLimited
from provider.nonces import NonceError, NonceExpired, NonceInFuture, NonceStoreUnavailable, NonceUsed

log = logging.getLogger("provider.errors")


class ProviderError(DatamarketError):
    code = "provider_error"
    #: Seconds after which the request may succeed, sent as ``Retry-After``; None: no such header.
    retry_after_s: int | None = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        retry_after_s: int | None = None,
    ):
        super().__init__(message, details=details)
        if code is not None:
            self.code = code
        self.retry_after_s = retry_after_s


class BadRequest(ProviderError, ValueError):
    code = "invalid_request"


class Unauthorized(ProviderError, PermissionError):
    """A request without the credential the endpoint asks for (``GET /metrics``: its token)."""

    code = "unauthorized"


class Forbidden(ProviderError, PermissionError):
    code = "forbidden"


class OrderRefused(Forbidden):
    """The named transaction is not an order that grants this request."""

    code = "order_refused"


class NotFound(ProviderError, LookupError):
    code = "not_found"


class Conflict(ProviderError):
    code = "conflict"


class OrderExpired(ProviderError):
    code = "order_expired"


class Unprocessable(ProviderError, ValueError):
    code = "unprocessable"


class TooManyRequests(ProviderError):
    """The client's own use is at its limit (its pending jobs); it may retry once that drops."""

    code = "too_many_requests"


class Unavailable(ProviderError, ConnectionError):
    code = "unavailable"


#: Error class -> HTTP status. The most specific class in an exception's MRO wins.
HTTP_STATUS: dict[type[BaseException], int] = {
    BadRequest: 400,
    InvalidRequest: 400,
    InvalidOutputSpec: 400,
    InvalidPublicKey: 400,
    InvalidSignature: 401,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    NonceUsed: 409,
    NonceExpired: 422,
    NonceInFuture: 422,
    OrderExpired: 410,
    Unprocessable: 422,
    TooManyRequests: 429,
    RateLimited: 429,
    NonceError: 400,
    KeyUnwrapError: 422,
    UnknownKey: 422,
    InvalidMetadata: 422,
    MetadataHashMismatch: 422,
    DocumentInvalid: 422,
    DocumentUnavailable: 503,
    Unavailable: 503,
    ChainUnavailable: 503,
    NonceStoreUnavailable: 503,
}

#: HTTP errors raised by Flask/Werkzeug itself (routing, body size) -> our code.
_HTTP_CODES = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
}


def status_of(exc: BaseException) -> int | None:
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return None


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Response:
    response = jsonify({"error": {"code": code, "message": message, "details": details or {}}})
    response.status_code = status
    return response


def register(app: Flask, on_error: Any = None) -> None:
    """Install the handlers; ``on_error(status, code)`` is called for every error response."""

    def respond(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Response:
        if on_error is not None:
            on_error(status, code)
        return error_response(status, code, message, details)

    @app.errorhandler(DatamarketError)
    def _known(exc: DatamarketError) -> Response:
        status = status_of(exc)
        if status is None:
            # A kernel error nobody mapped: a bug, not a client mistake; its text may name internals.
            log.error("unmapped %s", type(exc).__name__, exc_info=exc)
            return respond(500, "internal_error", "internal error")
        if status >= 500:
            log.warning("%s: %s", exc.code, exc.message)
        response = respond(status, exc.code, exc.message, safe_details(exc.details))
        if isinstance(exc, ProviderError) and exc.retry_after_s is not None:
            response.headers["Retry-After"] = str(exc.retry_after_s)
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        code = _HTTP_CODES.get(status, "http_error")
        response = respond(status, code, exc.name if status != 413 else "the request body is too large")
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # a 405 names them (RFC 9110)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.error("internal error", exc_info=exc)
        return respond(500, "internal_error", "internal error")


__all__ = [
    "HTTP_STATUS",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "NotFound",
    "OrderExpired",
    "OrderRefused",
    "ProviderError",
    "TooManyRequests",
    "Unauthorized",
    "Unavailable",
    "Unprocessable",
    "error_response",
    "register",
    "status_of",
]
