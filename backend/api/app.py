"""The backend's application factory: the catalog and audit API (``/api/v1``), ``/healthz`` and the
web pages, all reading the catalog the indexer writes. Importing this module does nothing."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask, Response, jsonify, make_response, request
from flask.typing import ResponseReturnValue
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from backend.api import queries, ratelimit, records
from backend.api.context import ApiContext, catalog, current, install
from backend.api.errors import HTTP_CODES, ApiError, error_response
from backend.api.views import bp as api_bp
from backend.web.client import PREFIX as CLIENT_PREFIX
from backend.web.policy import PAGE_POLICY
from backend.web.wallet import WalletSettings
from datamarket.ratelimit import RateLimitConfig, RateLimited, RateLimiter

log = logging.getLogger("backend.api")


def create_app(
    engine: Engine,
    *,
    chain_id: int,
    public_url: str | None = None,
    rate_limits: RateLimitConfig | None = None,
    client_dir: Path | None = None,
    wallet: WalletSettings | None = None,
) -> Flask:
    """The app over the catalog in ``engine`` for the chain ``chain_id``; ``public_url`` is where it
    is reachable from outside (the OpenAPI document's server), when known; ``rate_limits``: the
    requests it takes per client (default: the settings' defaults, counted in this process);
    ``client_dir``: the JavaScript client the dataset page runs (default: the repository's
    ``clients/js``); ``wallet``: what the page's wallet buttons need (the content gateway)."""
    from backend.web import client
    from backend.web import views as web
    from backend.web import wallet as wallet_buttons

    app = Flask("backend", static_folder=None, template_folder=None)
    # Only GET is answered; the API's GETs are simple cross-origin requests, which need no preflight,
    # so OPTIONS is refused like any other method instead of Flask's empty text/html 200.
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    app.json.sort_keys = False  # type: ignore[attr-defined]
    install(app, ApiContext(engine=engine, chain_id=chain_id, public_url=public_url))
    app.register_blueprint(api_bp)
    app.register_blueprint(web.bp)
    client.install(app, client_dir)
    wallet_buttons.install(app, wallet)
    app.add_url_rule("/healthz", "healthz", healthz)
    _register_errors(app, web.render_error)
    _headers(app)
    ratelimit.install(app, RateLimiter(rate_limits or ratelimit.config()))
    return app


def healthz() -> ResponseReturnValue:
    """200 when the catalog answers and was indexed from this chain (or not yet at all); 503 otherwise,
    naming the failed check (never its error text)."""
    try:
        checkpoint = queries.checkpoint(catalog())
    except DBAPIError:
        return _health("unavailable", {"database": "unavailable"}, None, 503)
    if checkpoint is not None and checkpoint.chain_id != current().chain_id:
        return _health("unavailable", {"database": "ok", "chain": "wrong_chain"}, None, 503)
    return _health("ok", {"database": "ok", "chain": "ok"}, records.block(checkpoint), 200)


def _health(status: str, checks: dict[str, str], block: dict | None, code: int) -> Response:
    response = jsonify({"status": status, "checks": checks, "block": block})
    response.status_code = code
    return response


def _is_api(path: str) -> bool:
    return path == "/healthz" or path == "/api" or path.startswith("/api/")


def _register_errors(app: Flask, render_page_error) -> None:
    """API paths (and the client's files, which scripts load) answer errors in the JSON shape; page
    paths with an HTML page in the same words."""

    def respond(status: int, code: str, message: str, details: dict | None = None) -> ResponseReturnValue:
        if _is_api(request.path) or request.path.startswith(CLIENT_PREFIX):
            return error_response(status, code, message, details)
        return render_page_error(status, code, message)

    @app.errorhandler(ApiError)
    def _known(exc: ApiError) -> ResponseReturnValue:
        return respond(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(RateLimited)
    def _limited(exc: RateLimited) -> ResponseReturnValue:
        response = make_response(respond(429, exc.code, exc.message, exc.details))
        response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> ResponseReturnValue:
        status = exc.code or 500
        response = make_response(respond(status, HTTP_CODES.get(status, "http_error"), exc.name))
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # a 405 names them (RFC 9110)
        return response

    @app.errorhandler(OperationalError)
    def _database(exc: OperationalError) -> ResponseReturnValue:
        log.warning("catalog unavailable: %s", type(exc.orig).__name__)
        return respond(503, "catalog_unavailable", "the catalog database is not answering")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> ResponseReturnValue:
        log.error("internal error", exc_info=exc)
        return respond(500, "internal_error", "internal error")


def _headers(app: Flask) -> None:
    @app.after_request
    def _secure(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)
            response.headers.setdefault("X-Frame-Options", "DENY")
        if _is_api(request.path):
            response.headers.setdefault("Cache-Control", "no-cache")
            response.headers.setdefault("Access-Control-Allow-Origin", "*")
        return response


__all__ = ["PAGE_POLICY", "create_app"]
