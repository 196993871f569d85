"""The gateway's rate limits: every request is counted under its client's address and its class
before its view runs; past the class's rule it is answered 429 ``rate_limited`` with ``Retry-After``.

Classes (each a setting, ``rate_limit_<class>``): ``health`` (``GET /healthz``), ``cars`` (a CAR,
asked by ``Accept`` or ``?format=car``: one request may walk a whole DAG) and ``blocks`` (everything
else: raw blocks, refusals).
"""

from __future__ import annotations

from flask import Flask, request

from datamarket.ratelimit import RateLimitConfig, RateLimiter, client_address
from gateway.formats import CAR_TYPE
from gateway.settings import GatewaySettings

CLASSES = ("health", "blocks", "cars")


def config(settings: GatewaySettings) -> RateLimitConfig:
    return RateLimitConfig(
        rules={name: getattr(settings, f"rate_limit_{name}") for name in CLASSES},
        url=settings.rate_limit_url,
        trusted_proxies=settings.trusted_proxies,
        namespace="gateway",
    )


def class_of(endpoint: str | None) -> str:
    if endpoint == "healthz":
        return "health"
    wants_car = request.args.get("format") == "car" or (
        "format" not in request.args and CAR_TYPE in request.headers.get("Accept", "").lower()
    )
    return "cars" if wants_car else "blocks"


def install(app: Flask, limiter: RateLimiter) -> None:
    """Count every request of ``app`` before its view."""
    trusted = limiter.config.trusted_proxies

    @app.before_request
    def _limit() -> None:
        client = client_address(request.remote_addr, request.headers.getlist("X-Forwarded-For"), trusted)
        limiter.hit(class_of(request.endpoint), client)


__all__ = ["CLASSES", "class_of", "config", "install"]
