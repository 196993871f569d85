"""The provider's rate limits: every request is counted under its client's address and its
endpoint's class before anything else runs, and a signed request also under its consumer, once the
consumer's signature verified (:func:`limit_consumer`).

Classes, from the most generous to the tightest (each a setting, ``rate_limit_<class>``):

- ``health``: ``GET /healthz`` (probes poll it);
- ``read``: every other cheap read, and any unknown path;
- ``heavy``: ``POST /access``, ``POST /compute``, ``GET /privacy/<datatoken>`` (chain reads) and
  ``GET /compute/<job>/result/archive`` (streams stored content);
- ``fees``: ``POST /fees`` (reads the chain, signs a quote and writes its nonce).

The consumer's own budget is counted only after its EIP-712 signature verified: counted on the
address a request merely claims, anyone could spend a victim's budget.
"""

from __future__ import annotations

from flask import Flask, request

from datamarket.ratelimit import RateLimitConfig, RateLimiter, client_address
from provider.settings import ProviderSettings

#: Endpoint -> class; any other endpoint (or none: an unknown path) is ``read``.
CLASSES = {
    "ops.healthz": "health",
    "fees.post_fees": "fees",
    "access.post_access": "heavy",
    "compute.post_compute": "heavy",
    "compute.get_privacy": "heavy",
    "compute.get_archive": "heavy",
}
DEFAULT_CLASS = "read"
#: The class of signed requests, counted per consumer.
CONSUMER = "consumer"


def config(settings: ProviderSettings) -> RateLimitConfig:
    return RateLimitConfig(
        rules={
            "health": settings.rate_limit_health,
            "read": settings.rate_limit_read,
            "heavy": settings.rate_limit_heavy,
            "fees": settings.rate_limit_fees,
            CONSUMER: settings.rate_limit_consumer,
        },
        url=str(settings.rate_limit_url),
        trusted_proxies=settings.trusted_proxies,
        namespace=f"provider:{settings.provider_address}",
    )


def install(app: Flask, limiter: RateLimiter) -> None:
    """Count every request of ``app`` before its view (and before its body is read)."""
    trusted = limiter.config.trusted_proxies

    @app.before_request
    def _limit() -> None:
        client = client_address(request.remote_addr, request.headers.getlist("X-Forwarded-For"), trusted)
        limiter.hit(CLASSES.get(request.endpoint or "", DEFAULT_CLASS), client)


def limit_consumer(limiter: RateLimiter | None, consumer: str) -> None:
    """Count a signed request under ``consumer``, whose signature has been verified: RateLimited
    past ``rate_limit_consumer``."""
    if limiter is not None:
        limiter.hit(CONSUMER, consumer, who="this consumer")


__all__ = ["CLASSES", "CONSUMER", "DEFAULT_CLASS", "config", "install", "limit_consumer"]
