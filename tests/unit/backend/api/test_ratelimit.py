"""The backend's rate limits: every API route, page and the stylesheet counted per client address
and class (health, api, pages), 429 ``rate_limited`` with Retry-After (JSON on the API, checked
against the OpenAPI document; a page on the pages), X-Forwarded-For only from trusted proxies, and
the limits taken from the settings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from backend import wsgi
from backend.api import ratelimit
from backend.api.app import create_app
from backend.settings import BackendSettings
from datamarket.ratelimit import RateLimitConfig, parse_rule
from tests.ratelimit_clock import FrozenClock, freeze
from tests.unit.backend.api.catalog_rows import CHAIN_ID, MARKET, Catalog
from tests.unit.backend.api.openapi_check import validating

GENEROUS = {name: "10000/second" for name in ratelimit.CLASSES}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    return freeze(monkeypatch)


def client(engine: Engine, trusted_proxies: int = 0, **rules: str) -> FlaskClient:
    config = RateLimitConfig(rules={**GENEROUS, **rules}, trusted_proxies=trusted_proxies)
    return validating(create_app(engine, chain_id=CHAIN_ID, rate_limits=config)).test_client()


def retry_after(response: Any) -> int:
    assert response.status_code == 429, response.data
    assert re.fullmatch(r"[1-9][0-9]*", response.headers["Retry-After"])
    assert "Traceback" not in response.get_data(as_text=True)
    return int(response.headers["Retry-After"])


def test_the_api_answers_429_in_its_error_shape(engine: Engine, catalog: Catalog, clock: FrozenClock) -> None:
    c = client(engine, api="2/second;3/minute")
    assert [c.get("/api/v1/datasets").status_code for _ in range(2)] == [200, 200]
    refused = c.get("/api/v1/stats")
    assert retry_after(refused) == 1
    assert refused.json["error"] == {
        "code": "rate_limited",
        "message": "too many requests from this address; retry in 1 s",
        "details": {"retry_after": 1},
    }
    clock.advance(2.5)
    assert c.get("/api/v1/stats").status_code == 200
    assert retry_after(c.get("/api/v1/stats")) == 58
    assert c.get("/healthz").status_code == 200  # probes have their own budget


def test_a_page_answers_429_as_a_page(engine: Engine, catalog: Catalog, clock: FrozenClock) -> None:
    c = client(engine, pages="1/hour")
    assert c.get("/").status_code == 200
    refused = c.get("/")
    assert retry_after(refused) == 3600
    assert refused.mimetype == "text/html"
    page = refused.get_data(as_text=True)
    assert "Too many requests" in page and "rate_limited" in page
    assert c.get("/api/v1/datasets").status_code == 200  # the API counts apart


def routes(app: Flask) -> list[str]:
    paths = []
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: "0x" + "ab" * 20, rule.rule)
        paths.append(path.replace("0x" + "ab" * 20, "style.css") if rule.endpoint == "web.static" else path)
    return paths


def test_every_route_is_limited(engine: Engine, catalog: Catalog, clock: FrozenClock) -> None:
    """With one request an hour per class, the second request to any route is refused (the first
    may be too, where another route of its class came first), an unknown path too."""
    c = client(engine, **dict.fromkeys(ratelimit.CLASSES, "1/hour"))
    paths = routes(c.application)
    assert {"/healthz", "/api/v1/datasets", "/", "/static/style.css"} <= set(paths)
    for path in [*paths, "/no/such/page", "/api/v1/no/such/route"]:
        c.get(path)
        retry_after(c.get(path))


@pytest.mark.parametrize(
    ("endpoint", "path", "name"),
    [
        ("healthz", "/healthz", "health"),
        ("api.datasets", "/api/v1/datasets", "api"),
        (None, "/api/v1/nothing", "api"),
        ("web.home", "/", "pages"),
        ("web.static", "/static/style.css", "static"),
        ("web.client_file", "/static/client/src/index.js", "static"),
        (None, "/nothing", "pages"),
    ],
)
def test_classes(endpoint: str | None, path: str, name: str) -> None:
    assert ratelimit.class_of(endpoint, path) == name


def test_behind_a_trusted_proxy_the_client_it_saw_counts(engine: Engine, clock: FrozenClock) -> None:
    c = client(engine, trusted_proxies=1, health="1/hour")

    def probe(forwarded: str | None) -> int:
        headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        return c.get("/healthz", headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code

    assert probe("203.0.113.1") == 200
    assert probe("203.0.113.2") == 200
    assert probe("6.6.6.6, 203.0.113.1") == 429


def test_without_trusted_proxies_the_header_is_ignored(engine: Engine, clock: FrozenClock) -> None:
    c = client(engine, health="1/hour")
    assert c.get("/healthz", headers={"X-Forwarded-For": "203.0.113.1"}).status_code == 200
    assert c.get("/healthz", headers={"X-Forwarded-For": "203.0.113.2"}).status_code == 429


def test_the_limits_come_from_the_settings(tmp_path: Path) -> None:
    s = BackendSettings(
        rpc_url="http://127.0.0.1:1",
        market=MARKET,
        data_dir=tmp_path,
        rate_limit_pages="3/minute",
        trusted_proxies=2,
        rate_limit_url="redis://127.0.0.1:6379/5",
    )
    config = ratelimit.config(s)
    assert config.rules["pages"] == "3/minute" and config.trusted_proxies == 2
    assert config.url == "redis://127.0.0.1:6379/5"
    defaults = ratelimit.config()
    assert defaults.rules == {
        "health": "50/second",
        "api": "50/second;1500/minute",
        "static": "100/second;3000/minute",
        "pages": "20/second;600/minute",
    }
    assert (defaults.url, defaults.trusted_proxies) == ("memory://", 0)


def test_the_default_limits_hold_pages_tighter_than_the_api() -> None:
    def per_minute(rule: str) -> float:
        return min(item.amount * 60 / item.get_expiry() for item in parse_rule(rule))

    rules = ratelimit.config().rules
    assert per_minute(rules["pages"]) < per_minute(rules["api"]) <= per_minute(rules["health"])


def test_the_wsgi_app_takes_the_limits_of_its_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: Engine, clock: FrozenClock
) -> None:
    url = str(engine.url)
    for name, value in {"RPC_URL": "http://127.0.0.1:8545", "MARKET": MARKET, "DATABASE_URL": url,
                        "CHAIN_ID": str(CHAIN_ID), "RATE_LIMIT_HEALTH": "1/hour"}.items():  # fmt: skip
        monkeypatch.setenv(f"DATAMARKET_BACKEND_{name}", value)
    wsgi.build.cache_clear()
    try:
        served = wsgi.app.test_client()
        assert served.get("/healthz").status_code == 200
        assert retry_after(served.get("/healthz")) == 3600
    finally:
        wsgi.build.cache_clear()
