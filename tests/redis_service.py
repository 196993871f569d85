"""The machine's Redis (127.0.0.1:6379) for the tests that need one: skipped without it, except in CI
(CI=true), where its absence is a failure."""

from __future__ import annotations

import os

import pytest
import redis


def require_redis(url: str, *, flush: bool = False) -> str:
    """``url`` once its server answers (its database emptied first with ``flush``)."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        client.flushdb() if flush else client.ping()
        client.close()
    except redis.RedisError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required in CI but unreachable: {type(exc).__name__}")
        pytest.skip("Redis not reachable")
    return url
