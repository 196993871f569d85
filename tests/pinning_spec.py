"""The IPFS Pinning Service API's answers as its spec (v1.0.0, ipfs-pinning-service.yaml in
github.com/ipfs/pinning-services-api-spec) defines them, transcribed into JSON Schema: the tests check
the stand-in service's answers with :func:`check_answer` (so the client is tested against what the
spec says, not against what the stand-in happens to do), and :class:`CheckingAdapter` checks every
answer a requests session receives."""

from __future__ import annotations

import json
import re
from typing import Any

import requests
from jsonschema import Draft202012Validator
from requests.adapters import HTTPAdapter

#: The spec's ``format: date-time`` (RFC 3339, section 5.6), which jsonschema does not assert by itself.
RFC3339 = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
STATUS = {"type": "string", "enum": ["queued", "pinning", "pinned", "failed"]}
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 1000}
PIN = {
    "type": "object",
    "required": ["cid"],
    "properties": {
        "cid": {"type": "string"},
        "name": {"type": "string", "maxLength": 255},
        "origins": {"type": "array", "items": {"type": "string"}, "uniqueItems": True, "maxItems": 20},
        "meta": STRING_MAP,
    },
}
PIN_STATUS = {
    "type": "object",
    "required": ["requestid", "status", "created", "pin", "delegates"],
    "properties": {
        "requestid": {"type": "string"},
        "status": STATUS,
        "created": {"type": "string", "pattern": RFC3339},
        "pin": PIN,
        "delegates": {
            "type": "array", "items": {"type": "string"}, "uniqueItems": True, "minItems": 1, "maxItems": 20,
        },
        "info": STRING_MAP,
    },
}  # fmt: skip
PIN_RESULTS = {
    "type": "object",
    "required": ["count", "results"],
    "properties": {
        "count": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
        "results": {"type": "array", "items": PIN_STATUS, "uniqueItems": True, "maxItems": 1000},
    },
}
FAILURE = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["reason"],
            "properties": {"reason": {"type": "string"}, "details": {"type": "string"}},
        }
    },
}

#: (method, path template) -> (the success status, its body's schema; None: no body).
OPERATIONS: dict[tuple[str, str], tuple[int, dict[str, Any] | None]] = {
    ("GET", "/pins"): (200, PIN_RESULTS),
    ("POST", "/pins"): (202, PIN_STATUS),
    ("GET", "/pins/{requestid}"): (200, PIN_STATUS),
    ("POST", "/pins/{requestid}"): (202, PIN_STATUS),
    ("DELETE", "/pins/{requestid}"): (202, None),
}
#: Every operation documents these error statuses, each answered with a Failure object.
ERRORS = (400, 401, 404, 409)


def template(path: str) -> str:
    """The spec's path for a request path below the service's base."""
    return (
        "/pins" if path.rstrip("/").endswith("/pins") else re.sub(r"/pins/[^/]+$", "/pins/{requestid}", path)
    )


def check_answer(method: str, path: str, status: int, content_type: str, body: bytes) -> None:
    """AssertionError unless the answer is one the spec documents for this operation."""
    operation = OPERATIONS.get((method, template(path)))
    assert operation is not None, f"{method} {path} is not an operation of the API"
    success, schema = operation
    if status == success:
        if schema is None:
            return
    elif status in ERRORS or 400 <= status < 600:
        schema = FAILURE
    else:
        raise AssertionError(f"{method} {path}: status {status} is not documented")
    assert content_type.split(";")[0].strip() == "application/json", f"{method} {path}: {content_type}"
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in Draft202012Validator(schema).iter_errors(
        json.loads(body)
    )]  # fmt: skip
    assert errors == [], f"{method} {path} {status}: not the spec's shape: {errors}"


class CheckingAdapter(HTTPAdapter):
    """A transport that checks each answer against the spec before the client reads it, and keeps
    how many it checked."""

    def __init__(self, base_path: str = "") -> None:
        super().__init__()
        self.base_path = base_path
        self.checked = 0

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = super().send(request, **kwargs)
        path = requests.utils.urlparse(request.url).path.removeprefix(self.base_path)
        check_answer(request.method or "", path, response.status_code,
                     response.headers.get("Content-Type", ""), response.content)  # fmt: skip
        self.checked += 1
        return response


__all__ = ["FAILURE", "OPERATIONS", "PIN_RESULTS", "PIN_STATUS", "CheckingAdapter", "check_answer"]
