"""``backend.wsgi:app`` builds the app from the backend's settings on first access, not at import."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend import wsgi
from backend.db.engine import open_engine
from backend.db.migrate import upgrade
from tests.unit.backend.api.catalog_rows import MARKET, Catalog


def test_the_app_comes_from_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    engine = open_engine(url)
    upgrade(engine)
    Catalog(engine, chain_id=5).publish()
    for name, value in {"RPC_URL": "http://127.0.0.1:8545", "MARKET": MARKET, "STORE": str(tmp_path),
                        "DATABASE_URL": url}.items():  # fmt: skip
        monkeypatch.setenv(f"DATAMARKET_BACKEND_{name}", value)
    asked = []
    monkeypatch.setattr(wsgi, "_node_chain_id", lambda rpc_url, timeout: asked.append(rpc_url) or 5)
    wsgi.build.cache_clear()
    try:
        health = wsgi.app.test_client().get("/healthz")
    finally:
        wsgi.build.cache_clear()
    assert asked == ["http://127.0.0.1:8545"]
    assert health.status_code == 200 and health.json["checks"] == {"database": "ok", "chain": "ok"}
