"""Test support for the provider app: every response a test receives is checked against the
OpenAPI document (status documented for the path and method, JSON body valid against its schema),
and a fixture checks that no request reached the catch-all 500 handler."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from provider.context import EXTENSION
from provider.ops import openapi_document

SPEC_URI = "urn:datamarket:provider-openapi"
SPEC: dict[str, Any] = json.loads(openapi_document())
_REGISTRY = Registry().with_resource(
    SPEC_URI, Resource.from_contents(SPEC, default_specification=DRAFT202012)
)


def _pointer(*parts: str) -> str:
    return "/".join(["", *(p.replace("~", "~0").replace("/", "~1") for p in parts)])


def _validator(pointer: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"{SPEC_URI}#{pointer}"}, registry=_REGISTRY)


def schema_errors(pointer: str, body: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in _validator(pointer).iter_errors(body)]


def spec_path(path: str) -> str:
    """The spec's path (``/api/v1/compute/{job_id}``) that a request path matches, or the path."""
    if path in SPEC["paths"]:
        return path
    for template in SPEC["paths"]:
        if "{" in template and re.fullmatch(re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)), path):
            return template
    return path


def check_response(path: str, method: str, status: int, content_type: str, body: bytes) -> None:
    """AssertionError unless the response is what the OpenAPI document says."""
    path = spec_path(path)
    operation = SPEC["paths"].get(path, {}).get(method.lower())
    if operation is None:
        # Not an API route: only routing errors may answer, in the error shape.
        assert status in (404, 405), f"{method} {path}: undocumented route answered {status}"
        assert schema_errors(_pointer("components", "schemas", "Error"), json.loads(body)) == []
        return
    responses = operation["responses"]
    assert str(status) in responses, f"{method} {path}: status {status} is not documented"
    response = responses[str(status)]
    pointer_parts: tuple[str, ...] = ("paths", path, method.lower(), "responses", str(status))
    if "$ref" in response:
        pointer_parts = tuple(response["$ref"].removeprefix("#/").split("/"))
        response = SPEC["components"]["responses"][pointer_parts[-1]]
    media = content_type.split(";")[0].strip()
    assert media in response["content"], f"{method} {path} {status}: content type {media} not documented"
    if media == "application/json":
        pointer = _pointer(*pointer_parts, "content", media, "schema")
        errors = schema_errors(pointer, json.loads(body))
        assert errors == [], f"{method} {path} {status}: body does not match the spec: {errors}"


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
