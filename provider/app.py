"""The provider's application factory. Importing this module does nothing; ``create_app`` builds.

``create_app(settings)`` makes the real adapters from the settings (a JSON-RPC chain reader, the
content store, the X25519 key store, the nonce store, the rate limiter). Tests pass their own
adapters; the integration tests pass real ones wired to their anvil and stores.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, g, request

from datamarket.chain.reader import ChainReader, Web3ChainReader
from datamarket.crypto.keys import KeyStore
from datamarket.ratelimit import RateLimiter
from datamarket.storage import open_store
from datamarket.storage.base import ContentStore
from provider import access, cors, errors, fees, info, ops, ratelimit
from provider.context import EXTENSION, ProviderContext
from provider.jobs import ComputeBackend
from provider.jobs import bp as jobs_bp
from provider.metrics import Metrics
from provider.nonces import NonceStore, open_nonce_store
from provider.settings import ProviderSettings

#: Every request body is small JSON; larger ones are refused with 413 before they are read.
MAX_CONTENT_LENGTH = 64 * 1024


def create_app(
    settings: ProviderSettings,
    *,
    chain: ChainReader | None = None,
    store: ContentStore | None = None,
    nonces: NonceStore | None = None,
    keys: KeyStore | None = None,
    jobs: Any = None,
    clock: Callable[[], float] = time.time,
) -> Flask:
    """A provider app for ``settings``; each adapter not given is built from the settings."""
    app = Flask("provider")
    app.config["MAX_CONTENT_LENGTH"] = MAX_CONTENT_LENGTH
    # OPTIONS is no method of the API: 405 in JSON, not Flask's empty text/html 200 (a CORS preflight
    # is answered by provider.cors).
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    app.json.sort_keys = True  # type: ignore[attr-defined]
    address = settings.provider_address
    limiter = RateLimiter(ratelimit.config(settings))
    ctx = ProviderContext(
        settings=settings,
        chain=chain
        or Web3ChainReader.connect(
            settings.rpc_url,
            settings.market,
            chain_id=settings.chain_id,
            deploy_block=settings.market_deploy_block,
            timeout=settings.rpc_timeout_s,
        ),
        store=store or open_store(str(settings.store)),
        keys=keys or KeyStore(settings.keys_dir),  # type: ignore[arg-type]
        nonces=nonces or open_nonce_store(str(settings.nonces_url), namespace=address),
        metrics=Metrics(),
        clock=clock,
        address=address,
        compute=_compute_backend(settings, jobs),
        limiter=limiter,
    )
    app.extensions[EXTENSION] = ctx
    for blueprint in (info.bp, access.bp, fees.bp, ops.bp, jobs_bp):
        app.register_blueprint(blueprint)
    errors.register(app, on_error=ctx.metrics.record_error)
    _instrument(app, ctx.metrics)
    ratelimit.install(app, limiter)
    cors.install(app)
    logging.getLogger("provider").setLevel(settings.log_level)
    return app


def _compute_backend(settings: ProviderSettings, jobs: Any) -> ComputeBackend | None:
    """The job database and the broker, where the provider offers compute."""
    if "compute" not in settings.services:
        return None
    from datamarket.jobs.store import JobStore

    return ComputeBackend(
        jobs=jobs or JobStore(str(settings.jobs_url)),
        broker_url=str(settings.broker_url),
        lease_s=settings.job_lease_s,
    )


def _instrument(app: Flask, metrics: Metrics) -> None:
    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _record(response: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        metrics.requests.labels(
            endpoint=endpoint, method=request.method, status=str(response.status_code)
        ).inc()
        started = g.get("started")
        if started is not None:
            metrics.latency.labels(endpoint=endpoint).observe(time.perf_counter() - started)
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response


__all__ = ["MAX_CONTENT_LENGTH", "create_app"]
