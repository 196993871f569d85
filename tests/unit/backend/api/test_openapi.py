"""The OpenAPI document: a valid OpenAPI 3.1 document whose every schema is valid JSON Schema and
every reference resolves, that documents exactly the app's API routes, and that the app serves."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
from flask import Flask
from jsonschema import Draft202012Validator
from sqlalchemy import Engine

from backend.api.app import create_app
from backend.api.views import openapi_document
from tests.unit.backend.api.catalog_rows import CHAIN_ID

SPEC = openapi_document()


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def resolve(ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = SPEC
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_the_document_is_openapi_3_1() -> None:
    assert SPEC["openapi"] == "3.1.0"
    assert {"title", "version"} <= set(SPEC["info"])
    assert SPEC["jsonSchemaDialect"] == "https://json-schema.org/draft/2020-12/schema"
    operation_ids = [op["operationId"] for item in SPEC["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            assert method == "get", path
            assert operation["responses"] and all(
                re.fullmatch(r"[1-5][0-9][0-9]", s) for s in operation["responses"]
            )
            templated = set(re.findall(r"{([^}]+)}", path))
            declared = {
                resolve(p["$ref"])["name"]
                for p in operation["parameters"]
                if resolve(p["$ref"])["in"] == "path"
            }
            assert templated == declared, path


def test_every_reference_resolves() -> None:
    found = refs(SPEC)
    assert len(found) > 50
    for ref in found:
        assert resolve(ref) is not None


def test_every_schema_is_json_schema_2020_12() -> None:
    for schema in SPEC["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    for parameter in SPEC["components"]["parameters"].values():
        assert parameter["in"] in ("query", "path") and "schema" in parameter
        Draft202012Validator.check_schema(parameter["schema"])


def test_openapi_spec_validator_accepts_it() -> None:
    if os.environ.get("CI") != "true":
        pytest.importorskip("openapi_spec_validator")
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.validators import OpenAPIV31SpecValidator

    validate(SPEC, cls=OpenAPIV31SpecValidator)


def test_the_document_covers_exactly_the_api_routes(app: Flask) -> None:
    routes = {
        re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/") or rule.rule == "/healthz"
    }
    assert routes == set(SPEC["paths"])


def test_the_app_serves_it_with_its_public_url(engine: Engine) -> None:
    served = create_app(engine, chain_id=CHAIN_ID).test_client().get("/api/v1/openapi.json")
    assert served.status_code == 200 and served.json == SPEC and "servers" not in served.json
    public = create_app(engine, chain_id=CHAIN_ID, public_url="https://catalog.example/")
    assert public.test_client().get("/api/v1/openapi.json").json["servers"] == [
        {"url": "https://catalog.example"}
    ]
