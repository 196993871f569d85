"""Test support for the provider app: every response a test receives is checked against the
OpenAPI document (status documented for the path and method, JSON body valid against its schema),
and a fixture checks that no request reached the catch-all 500 handler."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from provider.context import EXTENSION
from provider.ops import openapi_document
from tests.openapi import OpenApi

SPEC: dict[str, Any] = json.loads(openapi_document())
API = OpenApi(SPEC, "urn:datamarket:provider-openapi")


def check_response(path: str, method: str, status: int, content_type: str, body: bytes) -> None:
    """AssertionError unless the response is what the OpenAPI document says."""
    API.check(path, method, status, content_type, body)


class ValidatingClient(FlaskClient):
    """A test client that checks every response against the OpenAPI document."""

    checked = 0

    def open(self, *args: Any, **kwargs: Any) -> Any:
        response = super().open(*args, **kwargs)
        req = response.request
        check_response(req.path, req.method, response.status_code, response.content_type or "", response.data)
        ValidatingClient.checked += 1
        return response


def internal_errors(app: Flask) -> float:
    """How many responses the catch-all (500 internal_error) produced."""
    return app.extensions[EXTENSION].metrics.count(
        "datamarket_provider_errors", code="internal_error", status="500"
    )


def validating(app: Flask) -> Flask:
    app.test_client_class = ValidatingClient
    return app
