"""What every request handler works with: the settings and the adapters, built once per app."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, request
from werkzeug.exceptions import HTTPException

from datamarket.chain.reader import ChainReader
from datamarket.crypto.keys import KeyStore
from datamarket.metadata.resolve import DocumentCache
from datamarket.ratelimit import RateLimiter
from datamarket.storage.base import ContentStore
from provider.errors import BadRequest
from provider.metrics import Metrics
from provider.nonces import NonceStore
from provider.settings import ProviderSettings

EXTENSION = "datamarket_provider"


@dataclass(frozen=True, kw_only=True)
class ProviderContext:
    settings: ProviderSettings
    chain: ChainReader
    store: ContentStore
    keys: KeyStore
    nonces: NonceStore
    metrics: Metrics
    #: Wall-clock seconds (request nonces are milliseconds of this clock).
    clock: Callable[[], float]
    #: The provider's own address (from its key).
    address: str
    #: Verified metadata documents, so a repeated access skips the store and the schema check.
    documents: DocumentCache = field(default_factory=DocumentCache)
    #: The compute backend (``provider.jobs.ComputeBackend``) where the compute service is on.
    compute: Any = None
    #: The request counts (``provider.ratelimit``); None: nothing is limited.
    limiter: RateLimiter | None = None

    def close(self) -> None:
        self.nonces.close()
        if self.compute is not None:
            self.compute.close()


def current() -> ProviderContext:
    return current_app.extensions[EXTENSION]


def json_body() -> dict[str, Any]:
    """The request body as a JSON object: strict (no NaN, no duplicate keys), else 400 invalid_json.
    Bodies over MAX_CONTENT_LENGTH never get here (Werkzeug answers 413); a body that cannot be read
    is 400 bad_request."""
    try:
        raw = request.get_data(cache=False)
    except HTTPException:
        raise
    except Exception:  # the server's own type for a malformed body (gunicorn: a bad chunk), whichever
        raise BadRequest("the request body could not be read: it is malformed", code="bad_request") from None

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({k for k, _ in pairs}) != len(pairs):
            raise ValueError("duplicate key")
        return dict(pairs)

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        data = json.loads(raw, object_pairs_hook=no_duplicates, parse_constant=no_constants)
    except (ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON", code="invalid_json") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_json")
    return data


__all__ = ["EXTENSION", "ProviderContext", "current", "json_body"]
