"""The backend's rate limits: every request, to the API or to a page, is counted under its client's
address and its class before its view runs; past the class's rule it is answered 429
``rate_limited`` with ``Retry-After`` (JSON on the API, a page on the pages).

Classes (each a setting, ``rate_limit_<class>``): ``health`` (``GET /healthz``, which probes poll),
``api`` (the JSON API, ``/api/...``), ``static`` (the stylesheet, the page script and the JavaScript
client's modules, ``/static/...``) and ``pages`` (the pages, and any other path).
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from typing import Any

from flask import Flask, request

from backend.settings import BackendSettings
from datamarket.ratelimit import RateLimitConfig, RateLimiter, client_address

CLASSES = ("health", "api", "static", "pages")


def config(settings: BackendSettings | None = None) -> RateLimitConfig:
    """The limits of ``settings``; without settings, the settings' defaults."""
    values: dict[str, Any] = {
        f.name: getattr(settings, f.name) if settings is not None else f.default
        for f in fields(BackendSettings)
        if f.default is not MISSING
    }
    return RateLimitConfig(
        rules={name: values[f"rate_limit_{name}"] for name in CLASSES},
        url=str(values["rate_limit_url"]),
        trusted_proxies=values["trusted_proxies"],
        namespace="backend",
    )


def class_of(endpoint: str | None, path: str) -> str:
    if endpoint == "healthz":
        return "health"
    if endpoint is not None and endpoint.startswith("api."):
        return "api"
    if endpoint is None and (path == "/api" or path.startswith("/api/")):
        return "api"
    if endpoint in ("web.static", "web.client_file"):
        return "static"
    return "pages"


def install(app: Flask, limiter: RateLimiter) -> None:
    """Count every request of ``app`` before its view."""
    trusted = limiter.config.trusted_proxies

    @app.before_request
    def _limit() -> None:
        client = client_address(request.remote_addr, request.headers.getlist("X-Forwarded-For"), trusted)
        limiter.hit(class_of(request.endpoint, request.path), client)


__all__ = ["CLASSES", "class_of", "config", "install"]
