"""Checking answers against an OpenAPI 3.1 document: the status is documented for the path and method,
the content type too, and a JSON body is valid against its schema. The provider's and the backend's
test clients both check every answer they receive with :meth:`OpenApi.check`."""

from __future__ import annotations

import json
import re
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012


def pointer(*parts: str) -> str:
    """A JSON pointer to ``parts`` (each escaped)."""
    return "/".join(["", *(p.replace("~", "~0").replace("/", "~1") for p in parts)])


class OpenApi:
    def __init__(self, spec: dict[str, Any], uri: str) -> None:
        self.spec, self.uri = spec, uri
        self.registry = Registry().with_resource(
            uri, Resource.from_contents(spec, default_specification=DRAFT202012)
        )

    def schema_errors(self, at: str, body: Any) -> list[str]:
        """What is wrong with ``body`` against the schema at the pointer ``at`` (empty: nothing)."""
        validator = Draft202012Validator({"$ref": f"{self.uri}#{at}"}, registry=self.registry)
        return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]

    def spec_path(self, path: str) -> str:
        """The document's path (``/api/v1/compute/{job_id}``) that a request path matches, or the path."""
        if path in self.spec["paths"]:
            return path
        for template in self.spec["paths"]:
            if "{" in template and re.fullmatch(re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)), path):
                return template
        return path

    def check(self, path: str, method: str, status: int, content_type: str, body: bytes) -> dict[str, Any]:
        """AssertionError unless the answer is what the document says; returns the documented response
        (empty for a routing error, or a rate limit, of an undocumented path, which must answer in the
        error shape)."""
        template = self.spec_path(path)
        operation = self.spec["paths"].get(template, {}).get(method.lower())
        if method == "OPTIONS" and status == 204 and template in self.spec["paths"]:
            assert body == b"", f"OPTIONS {path}: a CORS preflight's answer has no body"
            return {}  # a CORS preflight of a documented route: no operation of the API
        if operation is None:
            assert status in (404, 405, 429), f"{method} {path}: undocumented route answered {status}"
            assert self.schema_errors(pointer("components", "schemas", "Error"), json.loads(body)) == []
            return {}
        responses = operation["responses"]
        assert str(status) in responses, f"{method} {path}: status {status} is not documented"
        response = responses[str(status)]
        parts: tuple[str, ...] = ("paths", template, method.lower(), "responses", str(status))
        if "$ref" in response:
            parts = tuple(response["$ref"].removeprefix("#/").split("/"))
            response = self.spec["components"]["responses"][parts[-1]]
        media = content_type.split(";")[0].strip()
        assert media in response["content"], f"{method} {path} {status}: content type {media} not documented"
        if media == "application/json":
            errors = self.schema_errors(pointer(*parts, "content", media, "schema"), json.loads(body))
            assert errors == [], f"{method} {path} {status}: body does not match the spec: {errors}"
        return response
