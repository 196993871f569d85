"""The gateway's errors, and the one place where errors become HTTP responses.

The body is the same as every datamarket service's::

    {"error": {"code": "invalid_cid", "message": "...", "details": {...}}}

GatewayError (DatamarketError)
├── BadRequest       400  invalid_request (a parameter's value), format_required (no Accept, no format)
├── PathNotServed    404  path_not_served (a path below the CID: the store holds files, not folders)
├── NotAcceptable    406  not_acceptable (a response format, CAR version or order it does not serve)
└── NotCached        412  not_cached (Cache-Control: only-if-cached, and the store lacks the root)

Errors of the kernel, mapped here too: RateLimited 429 rate_limited (with ``Retry-After``, whole
seconds); InvalidCID 400 invalid_cid; ContentNotFound 404 content_not_found; UnsupportedContent 422
unsupported_content; ContentCorrupted 502 content_corrupted (the store holds a block that does not
match its CID); StoreUnavailable 503 store_unavailable; other StorageErrors 502. Werkzeug's own: 404
not_found, 405 method_not_allowed. Anything else: 500 internal_error. Error answers are not cached and
carry the CORS header, so a page can read them.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from datamarket.errors import DatamarketError, safe_details
from datamarket.ratelimit import RateLimited
from datamarket.storage.base import (
    ContentCorrupted,
    ContentNotFound,
    InvalidCID,
    StorageError,
    StoreUnavailable,
    UnsupportedContent,
)

log = logging.getLogger("gateway.errors")


class GatewayError(DatamarketError):
    code = "gateway_error"


class BadRequest(GatewayError, ValueError):
    code = "invalid_request"


class FormatRequired(BadRequest):
    code = "format_required"


class PathNotServed(GatewayError, KeyError):
    code = "path_not_served"


class NotCached(GatewayError, KeyError):
    code = "not_cached"


class NotAcceptable(GatewayError, ValueError):
    code = "not_acceptable"


HTTP_STATUS: dict[type[Exception], int] = {
    BadRequest: 400,
    InvalidCID: 400,
    PathNotServed: 404,
    ContentNotFound: 404,
    NotAcceptable: 406,
    NotCached: 412,
    UnsupportedContent: 422,
    ContentCorrupted: 502,
    StoreUnavailable: 503,
    StorageError: 502,
}


#: What a client is told of a store's own errors, whose messages may name a folder or a node's URL.
_PUBLIC_MESSAGES = {
    ContentNotFound: "the gateway's content store does not hold this block",
    ContentCorrupted: "the gateway's content store holds a block that does not match its CID",
    StoreUnavailable: "the gateway's content store is unavailable",
    StorageError: "the gateway's content store failed",
}


def public_message(exc: DatamarketError) -> str:
    """The message a client may see: the store's own, where it may name a place, is replaced."""
    if isinstance(exc, InvalidCID | UnsupportedContent) or not isinstance(exc, StorageError):
        return exc.message
    for klass in type(exc).__mro__:
        if klass in _PUBLIC_MESSAGES:
            return _PUBLIC_MESSAGES[klass]
    return _PUBLIC_MESSAGES[StorageError]


def status_of(exc: Exception) -> int:
    for klass in type(exc).__mro__:
        if klass in HTTP_STATUS:
            return HTTP_STATUS[klass]
    return 500


def error_response(code: str, message: str, status: int, details: dict | None = None) -> Response:
    response = jsonify({"error": {"code": code, "message": message, "details": details or {}}})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def register(app: Flask) -> None:
    @app.errorhandler(RateLimited)
    def _limited(exc: RateLimited) -> Response:
        response = error_response(exc.code, exc.message, 429, safe_details(exc.details))
        response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(DatamarketError)
    def _known(exc: DatamarketError) -> Response:
        status = status_of(exc)
        if status >= 500:
            log.warning("%s: %s", exc.code, exc.message)
        return error_response(exc.code, public_message(exc), status, safe_details(exc.details))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        code = {404: "not_found", 405: "method_not_allowed"}.get(status, "bad_request")
        response = error_response(code, exc.description or exc.name, status)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unexpected error")
        return error_response("internal_error", "internal error", 500)


__all__ = [
    "BadRequest",
    "FormatRequired",
    "GatewayError",
    "NotAcceptable",
    "NotCached",
    "PathNotServed",
    "register",
    "status_of",
]
