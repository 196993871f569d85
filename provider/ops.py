"""Operations: ``GET /healthz``, ``GET /metrics`` (Prometheus) and ``GET /openapi.json``."""

from __future__ import annotations

import hmac
from functools import cache
from importlib import resources

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from datamarket.errors import DatamarketError
from provider.context import current
from provider.errors import NotFound, Unauthorized
from provider.metrics import CONTENT_TYPE

bp = Blueprint("ops", __name__)


@cache
def openapi_document() -> bytes:
    return resources.files("provider").joinpath("openapi.json").read_bytes()


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """200 when the chain node answers with the right chain id, the nonce store answers and there
    is an encryption key; 503 otherwise, naming the failed check (never its error text)."""
    ctx = current()
    checks = {"chain": "ok", "nonces": "ok", "keys": "ok"}
    try:
        if ctx.chain.node_chain_id() != ctx.chain.chain_id:
            checks["chain"] = "wrong_chain"
    except DatamarketError:
        checks["chain"] = "unavailable"
    try:
        ctx.nonces.ping()
    except DatamarketError:
        checks["nonces"] = "unavailable"
    try:
        if not ctx.keys.public_keys():
            checks["keys"] = "missing"
    except (DatamarketError, OSError):
        checks["keys"] = "unavailable"
    ok = all(v == "ok" for v in checks.values())
    response = jsonify({"status": "ok" if ok else "unavailable", "checks": checks})
    response.status_code = 200 if ok else 503
    return response


@bp.get("/metrics")
def metrics() -> ResponseReturnValue:
    """The Prometheus exposition, for a scraper that sends the ``metrics_token`` as a bearer token:
    the counts say how much business the provider does, which is nobody else's to read."""
    ctx = current()
    token = ctx.settings.metrics_token
    if token is None:
        raise NotFound(
            "metrics are off: set DATAMARKET_PROVIDER_METRICS_TOKEN and scrape with it", code="metrics_off"
        )
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or not hmac.compare_digest(given.strip().encode(), token.reveal().encode()):
        raise Unauthorized("GET /metrics needs the metrics token as a bearer token")
    return Response(ctx.metrics.exposition(), content_type=CONTENT_TYPE)


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return Response(openapi_document(), mimetype="application/json")


__all__ = ["bp", "openapi_document"]
