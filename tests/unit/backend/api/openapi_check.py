"""Test support: every answer a test receives is checked against the backend's OpenAPI document
(the status is documented for the path and method, the JSON body is valid against its schema, the
block header is there on every JSON answer of the API)."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from backend.api.views import openapi_document
from tests.openapi import OpenApi

SPEC: dict[str, Any] = openapi_document()
API = OpenApi(SPEC, "urn:datamarket:backend-openapi")


def check_response(path: str, method: str, status: int, content_type: str, headers: Any, body: bytes) -> None:
    """AssertionError unless the answer is what the OpenAPI document says."""
    if not (path.startswith("/api/") or path == "/healthz"):
        return  # a page: the page tests check those
    assert content_type.startswith("application/json"), f"{method} {path}: answered {content_type}"
    response = API.check(path, method, status, content_type, body)
    if "X-Datamarket-Block" in response.get("headers", {}):
        assert re.fullmatch(r"[0-9]+|none", headers.get("X-Datamarket-Block", "")), f"{path}: no block header"


class ValidatingClient(FlaskClient):
    """A test client that checks every answer against the OpenAPI document."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        response = super().open(*args, **kwargs)
        req = response.request
        check_response(req.path, req.method, response.status_code, response.content_type or "",
                       response.headers, response.data)  # fmt: skip
        return response


def validating(app: Flask) -> Flask:
    app.test_client_class = ValidatingClient
    return app
