"""The API's errors, and the one place where errors become JSON answers.

Every refusal is an :class:`ApiError` with a stable ``code``; the body is always::

    {"error": {"code": "invalid_parameter", "message": "...", "details": {"param": "limit"}}}

ApiError (DatamarketError)
├── BadParameter        400  invalid_parameter (``details.param`` names the query parameter)
└── NotFound            404  unknown_dataset, not_found

Werkzeug's own: 404 not_found, 405 method_not_allowed. The database not answering:
503 catalog_unavailable. Anything else: 500 internal_error, with the traceback in the log only.
Messages are written for the client: they never hold a stack trace, a database URL or SQL.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, jsonify

from datamarket.errors import DatamarketError, safe_details

log = logging.getLogger("backend.api")


class ApiError(DatamarketError):
    code = "api_error"
    status = 500


class BadParameter(ApiError, ValueError):
    """A query parameter (or a path segment) that cannot be used; ``param`` names it."""

    code = "invalid_parameter"
    status = 400

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}", details={"param": param})
        self.param = param


class NotFound(ApiError, LookupError):
    code = "not_found"
    status = 404

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message, details=details)
        if code is not None:
            self.code = code


#: Werkzeug's HTTP errors (routing, methods) -> our code.
HTTP_CODES = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed"}


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Response:
    response = jsonify({"error": {"code": code, "message": message, "details": safe_details(details or {})}})
    response.status_code = status
    return response


__all__ = ["HTTP_CODES", "ApiError", "BadParameter", "NotFound", "error_response"]
