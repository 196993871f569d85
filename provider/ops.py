"""Operations: ``GET /healthz``, ``GET /metrics`` (Prometheus) and ``GET /openapi.json``."""

from __future__ import annotations

from functools import cache
from importlib import resources

from flask import Blueprint, Response, jsonify
from flask.typing import ResponseReturnValue

from datamarket.errors import DatamarketError
from provider.context import current
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
    return Response(current().metrics.exposition(), content_type=CONTENT_TYPE)


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return Response(openapi_document(), mimetype="application/json")


__all__ = ["bp", "openapi_document"]
