"""The gateway's application factory. Importing this module does nothing; ``create_app`` builds.

``create_app(settings)`` opens the content store the settings name (read only: the gateway never
writes to it). Tests pass their own store.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify

from datamarket.ratelimit import RateLimiter
from datamarket.storage import open_store
from datamarket.storage.base import BlockStore, StorageError
from datamarket.storage.embedded import EmbeddedStore
from datamarket.storage.traversal import WalkLimits
from gateway import content, errors, ratelimit
from gateway.context import EXTENSION, GatewayContext, current
from gateway.settings import GatewaySettings


def create_app(
    settings: GatewaySettings, *, store: BlockStore | None = None, limiter: RateLimiter | None = None
) -> Flask:
    """A gateway app for ``settings``; without ``store``, the one ``settings.store`` names, without
    ``limiter``, the rate limits of the settings."""
    app = Flask("gateway", static_folder=None, template_folder=None)
    # GET and HEAD only: both are simple cross-origin requests (Accept is a safelisted header), which
    # need no preflight, so OPTIONS is refused like any other method.
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    app.json.sort_keys = True  # type: ignore[attr-defined]
    opened = store if store is not None else open_store(settings.store)
    if not isinstance(opened, BlockStore):
        raise TypeError(f"{type(opened).__name__} does not serve single blocks")
    limits = WalkLimits(max_blocks=settings.max_dag_blocks, max_bytes=settings.max_dag_bytes)
    app.extensions[EXTENSION] = GatewayContext(store=opened, limits=limits)
    app.register_blueprint(content.bp)
    app.add_url_rule("/healthz", "healthz", healthz)
    errors.register(app)
    ratelimit.install(app, limiter or RateLimiter(ratelimit.config(settings)))
    _defaults(app)
    logging.getLogger("gateway").setLevel(settings.log_level)
    return app


def healthz() -> Response:
    """200 when the content store answers (the embedded store's folder exists, the IPFS node
    answers), 503 otherwise, naming the failed check (never its error text)."""
    store = current().store
    try:
        ok = store.root.is_dir() if isinstance(store, EmbeddedStore) else _node_answers(store)
    except (OSError, StorageError):
        ok = False
    response = jsonify(
        {"status": "ok" if ok else "unavailable", "checks": {"store": "ok" if ok else "unavailable"}}
    )
    response.status_code = 200 if ok else 503
    return response


def _node_answers(store: BlockStore) -> bool:
    version = getattr(store, "version", None)
    if version is None:
        return store.has("bafkqaaa")
    return bool(version())


def _defaults(app: Flask) -> None:
    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Access-Control-Allow-Origin", "*")
        return response


__all__ = ["create_app"]
