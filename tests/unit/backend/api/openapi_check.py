"""Test support: every answer a test receives is checked against the backend's OpenAPI document
(the status is documented for the path and method, the JSON body is valid against its schema, the
block header is there on every JSON answer of the API)."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from backend.api.views import openapi_document

SPEC_URI = "urn:datamarket:backend-openapi"
SPEC: dict[str, Any] = openapi_document()
_REGISTRY = Registry().with_resource(
    SPEC_URI, Resource.from_contents(SPEC, default_specification=DRAFT202012)
)


def pointer(*parts: str) -> str:
    return "/".join(["", *(p.replace("~", "~0").replace("/", "~1") for p in parts)])


def schema_errors(at: str, body: Any) -> list[str]:
    validator = Draft202012Validator({"$ref": f"{SPEC_URI}#{at}"}, registry=_REGISTRY)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]


def spec_path(path: str) -> str:
    if path in SPEC["paths"]:
        return path
    for template in SPEC["paths"]:
        if "{" in template and re.fullmatch(re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)), path):
            return template
    return path


def check_response(path: str, method: str, status: int, content_type: str, headers: Any, body: bytes) -> None:
    """AssertionError unless the answer is what the OpenAPI document says."""
    if not (path.startswith("/api/") or path == "/healthz"):
        return  # a page: the page tests check those
    assert content_type.startswith("application/json"), f"{method} {path}: answered {content_type}"
    template = spec_path(path)
    operation = SPEC["paths"].get(template, {}).get(method.lower())
    if operation is None:
        assert status in (404, 405), f"{method} {path}: undocumented route answered {status}"
        assert schema_errors(pointer("components", "schemas", "Error"), json.loads(body)) == []
        return
    responses = operation["responses"]
    assert str(status) in responses, f"{method} {path}: status {status} is not documented"
    response = responses[str(status)]
    parts: tuple[str, ...] = ("paths", template, method.lower(), "responses", str(status))
    if "$ref" in response:
        parts = tuple(response["$ref"].removeprefix("#/").split("/"))
        response = SPEC["components"]["responses"][parts[-1]]
    errors = schema_errors(pointer(*parts, "content", "application/json", "schema"), json.loads(body))
    assert errors == [], f"{method} {path} {status}: body does not match the spec: {errors}"
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
